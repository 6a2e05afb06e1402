package infra

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/jsii-runtime-go"

	"github.com/lmtokens/lmtokens/pkg/catalog"
)

// keyAdministration is what the account may do with the created keys' key
// through IAM: manage it, never use it. kms:CreateGrant is left out (a grant
// is a way to use it); so are Encrypt, Decrypt, ReEncrypt and GenerateDataKey.
var keyAdministration = []string{
	"kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias", "kms:DescribeKey", "kms:GetKeyPolicy", "kms:PutKeyPolicy",
	"kms:GetKeyRotationStatus", "kms:EnableKeyRotation", "kms:DisableKeyRotation", "kms:EnableKey", "kms:DisableKey",
	"kms:ListAliases", "kms:ListGrants", "kms:ListKeyPolicies", "kms:ListResourceTags", "kms:RevokeGrant", "kms:RetireGrant",
	"kms:TagResource", "kms:UntagResource", "kms:UpdateKeyDescription", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion",
}

// createdKeysKey picks the KMS key of the created keys' secrets. By default
// it is the stack's own, whose policy names who may use it: the functions
// that read or write keys, and the readers the keyReaders setting names,
// each only through Secrets Manager and only for secrets under the key
// prefix. The account administers it without using it, so an IAM grant of
// kms:Decrypt on * reads no stored key.
func (b *builder) createdKeysKey() {
	switch {
	case b.s.KMSKeyArn != "":
		b.keyArn = str(b.s.KMSKeyArn)
	case !b.s.UseAWSManagedKey:
		admin := awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        str("AdministerWithoutUse"),
			Principals: &[]awsiam.IPrincipal{awsiam.NewAccountRootPrincipal()},
			Actions:    jsii.Strings(keyAdministration...), Resources: jsii.Strings("*"),
		})
		b.key = awskms.NewKey(b.stack, str("CreatedKeysKey"), &awskms.KeyProps{
			Description:       str("lmtokens: encrypts the LogicMonitor keys stored under " + b.s.SecretPrefix),
			EnableKeyRotation: jsii.Bool(true),
			Policy:            awsiam.NewPolicyDocument(&awsiam.PolicyDocumentProps{Statements: &[]awsiam.PolicyStatement{admin}}),
			// Deleting the key would make every stored key unreadable.
			RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
		})
		b.keyArn = b.key.KeyArn()
		awscdk.NewCfnOutput(b.stack, str("CreatedKeysKmsKeyArn"), &awscdk.CfnOutputProps{Value: b.keyArn,
			Description: str("KMS key of the created keys' secrets: only the roles its policy names (keyReaders) may decrypt with it, through Secrets Manager")})
	}
}

// keyUse is the condition on every use of the key: through Secrets
// Manager, for a secret under the key prefix.
func (b *builder) keyUse() *map[string]any {
	prefix := b.stack.FormatArn(&awscdk.ArnComponents{
		Service: str("secretsmanager"), Resource: str("secret"), ResourceName: str(b.s.SecretPrefix + "*"), ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME,
	})
	return &map[string]any{
		"StringEquals": map[string]any{"kms:ViaService": fmt.Sprintf("secretsmanager.%s.amazonaws.com", *b.stack.Region())},
		"StringLike":   map[string]any{"kms:EncryptionContext:SecretARN": prefix},
	}
}

// keyUsers names, in the stack's key policy, the functions that read keys'
// values (decrypt) and those that write them (encrypt too), and the
// readers of keyReaders (decrypt).
func (b *builder) keyUsers() {
	if b.key == nil {
		return
	}
	var readers, writers []awsiam.IPrincipal
	for _, c := range catalog.Functions {
		if !readsKeys(c) {
			continue
		}
		role := b.out.Functions[c.ID].Role()
		if c.Binary == catalog.Create || c.Binary == catalog.Provider || c.Binary == catalog.Rotate {
			writers = append(writers, role)
		} else {
			readers = append(readers, role)
		}
	}
	for _, arn := range b.s.KeyReaders {
		readers = append(readers, awsiam.NewArnPrincipal(str(arn)))
	}
	b.key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid: str("FunctionsWriteKeys"), Principals: &writers, Actions: jsii.Strings("kms:GenerateDataKey", "kms:Decrypt"),
		Resources: jsii.Strings("*"), Conditions: b.keyUse(),
	}), jsii.Bool(false))
	b.key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid: str("ReadKeys"), Principals: &readers, Actions: jsii.Strings("kms:Decrypt"),
		Resources: jsii.Strings("*"), Conditions: b.keyUse(),
	}), jsii.Bool(false))
}

// readsKeys reports whether a function reads stored keys' values: every
// function that decides which token a secret holds (all but list and the
// API's toggle).
func readsKeys(c catalog.Function) bool {
	return c.Binary != catalog.List && (c.Binary != catalog.Toggle || c.CleanupStage != "")
}
