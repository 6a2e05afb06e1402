package localsecrets_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/lmtokens/lmtokens/pkg/local/localsecrets"
)

// The server, driven by the real SDK client over HTTP.
func TestWireProtocolWithTheSDK(t *testing.T) {
	srv, c := server(t)
	ctx := context.Background()
	token := "11111111-2222-3333-4444-555555555555"
	out, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("app/a"), SecretString: aws.String("v1"), ClientRequestToken: aws.String(token),
		Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("platform")}}})
	if err != nil || aws.ToString(out.VersionId) != token {
		t.Fatalf("create: %v %v", out, err)
	}
	// The same request token and value: a no-op; another value: refused.
	if _, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("app/a"), SecretString: aws.String("v1"), ClientRequestToken: aws.String(token)}); err != nil {
		t.Fatalf("idempotent create: %v", err)
	}
	var exists *types.ResourceExistsException
	if _, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("app/a"), SecretString: aws.String("v2")}); !errors.As(err, &exists) {
		t.Fatalf("duplicate create: %v", err)
	}
	if _, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("app/a"), SecretString: aws.String("v2")}); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: out.ARN})
	if err != nil || aws.ToString(got.SecretString) != "v2" {
		t.Fatalf("get by ARN: %v %v", got, err)
	}
	if _, err := c.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String("app/a"), Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("prod")}}}); err != nil {
		t.Fatal(err)
	}
	c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("other/b"), SecretString: aws.String("x")})
	list, err := c.ListSecrets(ctx, &secretsmanager.ListSecretsInput{Filters: []types.Filter{{Key: types.FilterNameStringTypeName, Values: []string{"app/"}}}})
	if err != nil || len(list.SecretList) != 1 || len(list.SecretList[0].Tags) != 2 {
		t.Fatalf("list: %+v %v", list, err)
	}
	del, err := c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("app/a"), RecoveryWindowInDays: aws.Int64(7)})
	if err != nil || del.DeletionDate == nil {
		t.Fatalf("delete: %v %v", del, err)
	}
	var invalid *types.InvalidRequestException
	if _, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("app/a")}); !errors.As(err, &invalid) {
		t.Fatalf("read of a deleted secret: %v", err)
	}
	d, err := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("app/a")})
	if err != nil || d.DeletedDate == nil {
		t.Fatalf("describe: %v %v", d, err)
	}
	var nf *types.ResourceNotFoundException
	if _, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("nope")}); !errors.As(err, &nf) {
		t.Fatalf("missing: %v", err)
	}
	var param *types.InvalidParameterException
	if _, err := c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("other/b"), RecoveryWindowInDays: aws.Int64(3)}); !errors.As(err, &param) {
		t.Fatalf("3-day window: %v", err)
	}
	srv.Fail("GetSecretValue", 1, localsecrets.Failure{Type: "InternalServiceError"})
	var internal *types.InternalServiceError
	if _, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("other/b")}); !errors.As(err, &internal) {
		t.Fatalf("injected failure: %v", err)
	}
	if n := len(srv.Calls("GetSecretValue")); n != 4 {
		t.Fatalf("%d GetSecretValue calls recorded", n)
	}
}

// AWS's rules the code relies on: a version token is a compare-and-set, a
// name pending deletion is taken, reads may lag writes, stages move.
func TestAWSRules(t *testing.T) {
	srv, c := server(t)
	ctx := context.Background()
	tok := "22222222-2222-3333-4444-555555555555"
	c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("a"), SecretString: aws.String("v1")})
	if _, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("a"), SecretString: aws.String("v2"), ClientRequestToken: aws.String(tok)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("a"), SecretString: aws.String("v2"), ClientRequestToken: aws.String(tok)}); err != nil {
		t.Fatalf("same token, same value: %v", err)
	}
	var exists *types.ResourceExistsException
	if _, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("a"), SecretString: aws.String("v3"), ClientRequestToken: aws.String(tok)}); !errors.As(err, &exists) {
		t.Fatalf("same token, other value: %v", err)
	}
	// Stages: a pending version does not become current until moved.
	pending := "33333333-2222-3333-4444-555555555555"
	c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("a"), SecretString: aws.String("next"), ClientRequestToken: aws.String(pending), VersionStages: []string{"AWSPENDING"}})
	if got, _ := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("a")}); aws.ToString(got.SecretString) != "v2" {
		t.Fatalf("current after a pending put: %s", aws.ToString(got.SecretString))
	}
	if _, err := c.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String("a"), VersionStage: aws.String("AWSCURRENT"), MoveToVersionId: aws.String(pending), RemoveFromVersionId: aws.String(tok)}); err != nil {
		t.Fatal(err)
	}
	d, _ := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("a")})
	if st := d.VersionIdsToStages[tok]; len(st) != 1 || st[0] != "AWSPREVIOUS" {
		t.Fatalf("stages: %v", d.VersionIdsToStages)
	}
	// Pending deletion keeps the name; a second DeleteSecret is refused.
	c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("a"), RecoveryWindowInDays: aws.Int64(7)})
	var invalid *types.InvalidRequestException
	if _, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("a"), SecretString: aws.String("x")}); !errors.As(err, &invalid) {
		t.Fatalf("create over a pending deletion: %v", err)
	}
	if _, err := c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("a"), RecoveryWindowInDays: aws.Int64(7)}); !errors.As(err, &invalid) {
		t.Fatalf("second delete: %v", err)
	}
	// Reads lag writes; writes see the latest state.
	srv.SetLag(200 * time.Millisecond)
	c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("b"), SecretString: aws.String("x")})
	var nf *types.ResourceNotFoundException
	if _, err := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("b")}); !errors.As(err, &nf) {
		t.Fatalf("read right after the write: %v", err)
	}
	if _, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("b"), SecretString: aws.String("y")}); !errors.As(err, &exists) {
		t.Fatalf("write right after the write: %v", err)
	}
	time.Sleep(250 * time.Millisecond)
	if _, err := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("b")}); err != nil {
		t.Fatalf("read after the lag: %v", err)
	}
}

// server starts the local Secrets Manager and a real SDK client for it.
func server(t *testing.T) (*localsecrets.Server, *secretsmanager.Client) {
	srv := localsecrets.Start()
	t.Cleanup(srv.Close)
	return srv, secretsmanager.New(secretsmanager.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret", ""),
	})
}

// RotateSecret as AWS runs it: a valueless AWSPENDING version, then the
// four steps through the rotation function; a failed step leaves
// AWSPENDING and AWSCURRENT where they are, and blocks the next rotation
// until it is retried.
func TestRotateSecret(t *testing.T) {
	srv, c := server(t)
	ctx := context.Background()
	c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("k"), SecretString: aws.String("v1")})
	failAt := ""
	var seen []string
	srv.Rotator = func(ctx context.Context, arn string, st localsecrets.RotationStep) error {
		seen = append(seen, st.Step)
		if st.Step == failAt {
			return errors.New("injected")
		}
		switch st.Step {
		case "createSecret":
			// The pending version has no value until the first createSecret
			// puts one; a retried step finds it and does nothing.
			var nf *types.ResourceNotFoundException
			_, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(st.SecretID), VersionId: aws.String(st.ClientRequestToken), VersionStage: aws.String("AWSPENDING")})
			switch {
			case err == nil && len(seen) > 1:
				return nil
			case !errors.As(err, &nf):
				return fmt.Errorf("pending value before createSecret: %v", err)
			}
			_, err = c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(st.SecretID), ClientRequestToken: aws.String(st.ClientRequestToken),
				SecretString: aws.String("v2"), VersionStages: []string{"AWSPENDING"}})
			return err
		case "finishSecret":
			d, _ := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(st.SecretID)})
			current := ""
			for v, stages := range d.VersionIdsToStages {
				if slices.Contains(stages, "AWSCURRENT") {
					current = v
				}
			}
			_, err := c.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String(st.SecretID), VersionStage: aws.String("AWSCURRENT"),
				MoveToVersionId: aws.String(st.ClientRequestToken), RemoveFromVersionId: aws.String(current)})
			return err
		}
		return nil
	}
	failAt = "testSecret"
	token := "44444444-2222-3333-4444-555555555555"
	if _, err := c.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String("k"), ClientRequestToken: aws.String(token),
		RotationLambdaARN: aws.String("arn:aws:lambda:us-east-1:123456789012:function:rotate"), RotationRules: &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(30)}}); err != nil {
		t.Fatal(err)
	}
	if out := srv.WaitRotations(); out["k"][0] == nil || strings.Join(seen, ",") != "createSecret,setSecret,testSecret" {
		t.Fatalf("failed rotation: %v after %v", out, seen)
	}
	if got, _ := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("k")}); aws.ToString(got.SecretString) != "v1" {
		t.Fatal("a failed rotation moved AWSCURRENT")
	}
	var invalid *types.InvalidRequestException
	if _, err := c.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String("k")}); !errors.As(err, &invalid) {
		t.Fatalf("a rotation over an unfinished one: %v", err)
	}
	// Retried with the same token, it completes.
	failAt, seen = "", []string{"retry"}
	if _, err := c.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String("k"), ClientRequestToken: aws.String(token)}); err != nil {
		t.Fatal(err)
	}
	if out := srv.WaitRotations(); out["k"][1] != nil {
		t.Fatalf("retried rotation: %v", out)
	}
	got, _ := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("k")})
	prev, _ := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("k"), VersionStage: aws.String("AWSPREVIOUS")})
	d, _ := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("k")})
	if aws.ToString(got.SecretString) != "v2" || aws.ToString(prev.SecretString) != "v1" || !aws.ToBool(d.RotationEnabled) || aws.ToInt64(d.RotationRules.AutomaticallyAfterDays) != 30 {
		t.Fatalf("after rotation: current %s, previous %s, %+v", aws.ToString(got.SecretString), aws.ToString(prev.SecretString), d)
	}
}

// RotateSecret without an immediate rotation tests the configuration as AWS
// does: testSecret alone, on a valueless AWSPENDING version that is removed
// afterwards, so the next rotation is not blocked.
func TestRotateSecretNotImmediatelyTestsTheConfiguration(t *testing.T) {
	srv, c := server(t)
	ctx := context.Background()
	c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("k"), SecretString: aws.String("v1")})
	var seen []string
	pendingHadValue := true
	srv.Rotator = func(ctx context.Context, arn string, st localsecrets.RotationStep) error {
		seen = append(seen, st.Step)
		d, _ := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(st.SecretID)})
		if !slices.Contains(d.VersionIdsToStages[st.ClientRequestToken], "AWSPENDING") {
			return errors.New("no pending version during the test")
		}
		_, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(st.SecretID), VersionId: aws.String(st.ClientRequestToken)})
		pendingHadValue = err == nil
		return nil
	}
	if _, err := c.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String("k"), RotateImmediately: aws.Bool(false),
		RotationLambdaARN: aws.String("arn:aws:lambda:us-east-1:123456789012:function:rotate"), RotationRules: &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(7)}}); err != nil {
		t.Fatal(err)
	}
	if out := srv.WaitRotations(); out["k"][0] != nil || strings.Join(seen, ",") != "testSecret" || pendingHadValue {
		t.Fatalf("configuration test: %v, steps %v, pending had a value %v", out, seen, pendingHadValue)
	}
	if kinds := srv.RotationKinds("k"); len(kinds) != 1 || kinds[0] != localsecrets.ConfigurationTest {
		t.Fatalf("reported as %v", kinds)
	}
	d, _ := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("k")})
	if len(d.VersionIdsToStages) != 1 || !aws.ToBool(d.RotationEnabled) {
		t.Fatalf("after the configuration test: %v", d.VersionIdsToStages)
	}
	if _, err := c.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String("k")}); err != nil {
		t.Fatalf("a rotation after the configuration test: %v", err)
	}
	srv.WaitRotations()
}

// A label is on one version at a time: the next rotation's AWSPENDING
// leaves the version that had it since the last rotation (now AWSCURRENT).
func TestAWSPendingMovesToTheNextRotation(t *testing.T) {
	srv, c := server(t)
	ctx := context.Background()
	c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("k"), SecretString: aws.String("v1")})
	first, second := "11111111-2222-3333-4444-555555555555", "66666666-2222-3333-4444-555555555555"
	if err := srv.Pend("k", "arn:aws:lambda:us-east-1:123456789012:function:rotate", first, ""); err != nil {
		t.Fatal(err)
	}
	c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("k"), ClientRequestToken: aws.String(first), SecretString: aws.String("v2"), VersionStages: []string{"AWSPENDING"}})
	d, _ := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("k")})
	var current string
	for v, st := range d.VersionIdsToStages {
		if slices.Contains(st, "AWSCURRENT") {
			current = v
		}
	}
	c.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String("k"), VersionStage: aws.String("AWSCURRENT"), MoveToVersionId: aws.String(first), RemoveFromVersionId: aws.String(current)})
	if _, err := c.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String("k"), ClientRequestToken: aws.String(second)}); err != nil {
		t.Fatalf("a rotation after a finished one: %v", err)
	}
	d, _ = c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("k")})
	if slices.Contains(d.VersionIdsToStages[first], "AWSPENDING") || !slices.Contains(d.VersionIdsToStages[second], "AWSPENDING") || !slices.Contains(d.VersionIdsToStages[first], "AWSCURRENT") {
		t.Fatalf("stages after the next rotation started: %v", d.VersionIdsToStages)
	}
	srv.WaitRotations()
}

// ListSecrets' filters are prefix matches, as AWS documents them: a
// tag-value filter of "5" also finds "51", and a caller must check what it
// gets.
func TestListSecretsFiltersArePrefixMatches(t *testing.T) {
	_, c := server(t)
	ctx := context.Background()
	for name, tok := range map[string]string{"a": "5", "b": "51", "c": "6"} {
		c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String("v"), Description: aws.String("Token " + tok),
			Tags: []types.Tag{{Key: aws.String("lmtokens:token-id"), Value: aws.String(tok)}}})
	}
	names := func(filters ...types.Filter) string {
		out, err := c.ListSecrets(ctx, &secretsmanager.ListSecretsInput{Filters: filters})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range out.SecretList {
			got = append(got, aws.ToString(s.Name))
		}
		return strings.Join(got, ",")
	}
	if got := names(types.Filter{Key: types.FilterNameStringTypeTagValue, Values: []string{"5"}}); got != "a,b" {
		t.Fatalf("tag-value 5 found %q", got)
	}
	if got := names(types.Filter{Key: types.FilterNameStringTypeTagKey, Values: []string{"lmtokens:token"}}); got != "a,b,c" {
		t.Fatalf("tag-key prefix found %q", got)
	}
	if got := names(types.Filter{Key: types.FilterNameStringTypeDescription, Values: []string{"token 6"}}); got != "c" {
		t.Fatalf("description (not case-sensitive) found %q", got)
	}
}
