package localdynamo_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lmtokens/lmtokens/pkg/local/localdynamo"
)

func client(url string) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDLOCAL", "local-secret", "")})
}

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func n(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }

// The stand-in answers the real SDK client as DynamoDB does: conditional
// writes, paged strongly consistent queries, and errors the SDK recognises
// by type.
func TestTheRealSDKAgainstTheStandIn(t *testing.T) {
	t.Parallel()
	srv := localdynamo.Start()
	defer srv.Close()
	srv.CreateTable("marks", localdynamo.Table{PK: "pk", SK: "sk"})
	srv.PageSize = 2
	db := client(srv.URL)
	ctx := context.Background()
	for _, sk := range []string{"1#1", "1#2", "2#3"} {
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("marks"), Item: map[string]types.AttributeValue{"pk": s("disable#"), "sk": s(sk), "lastUse": n("100")}}); err != nil {
			t.Fatal(err)
		}
	}
	db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("marks"), Item: map[string]types.AttributeValue{"pk": s("delete#"), "sk": s("9#9"), "lastUse": n("1")}})

	// A conditional put that fails is the SDK's typed error.
	_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("marks"),
		Item:                      map[string]types.AttributeValue{"pk": s("disable#"), "sk": s("1#1"), "lastUse": n("100")},
		ConditionExpression:       aws.String("attribute_not_exists(#pk) OR #lu <> :lu"),
		ExpressionAttributeNames:  map[string]string{"#pk": "pk", "#lu": "lastUse"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":lu": n("100")}})
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		t.Fatalf("want ConditionalCheckFailedException, got %v", err)
	}
	// A different last use passes the same condition.
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("marks"),
		Item:                      map[string]types.AttributeValue{"pk": s("disable#"), "sk": s("1#1"), "lastUse": n("200")},
		ConditionExpression:       aws.String("attribute_not_exists(#pk) OR #lu <> :lu"),
		ExpressionAttributeNames:  map[string]string{"#pk": "pk", "#lu": "lastUse"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":lu": n("200")}}); err != nil {
		t.Fatal(err)
	}

	// Paged query of one partition, through the SDK's own paginator.
	pages := dynamodb.NewQueryPaginator(db, &dynamodb.QueryInput{TableName: aws.String("marks"), ConsistentRead: aws.Bool(true),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": "pk"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": s("disable#")}})
	var got []string
	calls := 0
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		calls++
		for _, it := range page.Items {
			got = append(got, it["sk"].(*types.AttributeValueMemberS).Value)
		}
	}
	if strings.Join(got, ",") != "1#1,1#2,2#3" || calls != 2 {
		t.Fatalf("query %v in %d pages", got, calls)
	}

	// A delete whose condition fails leaves the item.
	_, err = db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String("marks"), Key: map[string]types.AttributeValue{"pk": s("disable#"), "sk": s("1#1")},
		ConditionExpression: aws.String("#lu = :lu"), ExpressionAttributeNames: map[string]string{"#lu": "lastUse"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":lu": n("100")}})
	if !errors.As(err, &ccf) || len(srv.Items("marks")) != 4 {
		t.Fatalf("a delete under a false condition: %v", err)
	}

	// What it does not understand is refused, never half-done.
	for _, cond := range []string{"begins_with(#lu, :lu)", "(#lu = :lu)", "#lu IN (:lu)"} {
		_, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String("marks"), Key: map[string]types.AttributeValue{"pk": s("disable#"), "sk": s("1#2")},
			ConditionExpression: aws.String(cond), ExpressionAttributeNames: map[string]string{"#lu": "lastUse"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":lu": n("100")}})
		if err == nil || !strings.Contains(err.Error(), "ValidationException") {
			t.Fatalf("%s: %v", cond, err)
		}
	}
	if _, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("nope"), Key: map[string]types.AttributeValue{"pk": s("a"), "sk": s("b")}}); err == nil {
		t.Fatal("a missing table answered")
	} else {
		var rnf *types.ResourceNotFoundException
		if !errors.As(err, &rnf) {
			t.Fatalf("missing table: %v", err)
		}
	}
}
