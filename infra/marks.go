package infra

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"

	"github.com/lmtokens/lmtokens/pkg/marktable"
	"github.com/lmtokens/lmtokens/pkg/settings"
)

// marksTable makes the table where cleanup keeps its warnings' marks (one
// item per warned token, keyed "<stage>#<portal>" / "<adminId>#<tokenId>"):
// on demand, encrypted, recoverable for 35 days, and emptied of marks no
// run removed by TTL 90 days after their action date. Losing it loses no
// token and no key: the next run warns again, and acts warnDays later.
func (b *builder) marksTable() {
	b.marks = awsdynamodb.NewTable(b.stack, str("WarningMarks"), &awsdynamodb.TableProps{
		PartitionKey:        &awsdynamodb.Attribute{Name: str(marktable.AttrPK), Type: awsdynamodb.AttributeType_STRING},
		SortKey:             &awsdynamodb.Attribute{Name: str(marktable.AttrSK), Type: awsdynamodb.AttributeType_STRING},
		BillingMode:         awsdynamodb.BillingMode_PAY_PER_REQUEST,
		TimeToLiveAttribute: str(marktable.AttrExpiresAt),
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		Encryption:    awsdynamodb.TableEncryption_AWS_MANAGED,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	suppressNag(b.marks, map[string]string{"DynamoDBInBackupPlan": reasonMarksBackup})
}

// grantMarks lets a cleanup function read and write its own stage's marks,
// and nothing else in the table (dynamodb:LeadingKeys: the partition key
// of every item it touches starts with its stage).
func (b *builder) grantMarks(fn awslambda.Function, stage string) {
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        str("OwnStagesWarningMarks"),
		Actions:    jsii.Strings("dynamodb:Query", "dynamodb:PutItem", "dynamodb:DeleteItem"),
		Resources:  &[]*string{b.marks.TableArn()},
		Conditions: &map[string]any{"ForAllValues:StringLike": map[string]any{"dynamodb:LeadingKeys": []string{stage + "#*"}}},
	}))
	fn.AddEnvironment(str(settings.CleanupMarksTable.Env), b.marks.TableName(), nil)
	b.markWriters = append(b.markWriters, fn.Role().RoleArn())
}

// marksPolicy denies every write to the table but the cleanup functions':
// a mark says an owner was warned, so no one else may make one, whatever
// their identity policy allows.
func (b *builder) marksPolicy() {
	b.marks.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        str("OnlyCleanupWritesMarks"),
		Effect:     awsiam.Effect_DENY,
		Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
		Actions:    jsii.Strings("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:PartiQLInsert", "dynamodb:PartiQLUpdate", "dynamodb:PartiQLDelete", "dynamodb:ImportTable", "dynamodb:RestoreTableFromBackup"),
		Resources:  jsii.Strings("*"),
		Conditions: &map[string]any{"ArnNotEquals": map[string]any{"aws:PrincipalArn": b.markWriters}},
	}))
}
