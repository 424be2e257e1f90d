package infrastructure_test

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2/hclsyntax"
	"go.yaml.in/yaml/v3"

	"github.com/serverless-data-platform/sdp/infrastructure"
)

// TestTerraformBucketModule checks the module every bucket of the Terraform configuration is made with:
// SSE-S3, public access blocked, bucket-owner objects, TLS only, incomplete uploads aborted after a day, the
// caller's expiration rules, and EventBridge notifications when the caller asks for them.
func TestTerraformBucketModule(t *testing.T) {
	m := loadModule(t, filepath.Join(terraformDir, "modules/bucket"))
	const id = "${aws_s3_bucket.this.id}"
	const arn = "${aws_s3_bucket.this.arn}"
	for _, c := range []struct {
		typ  string
		path []string
		want any
	}{
		{"aws_s3_bucket", []string{"bucket_prefix"}, "${var.name_prefix}"},
		{"aws_s3_bucket_server_side_encryption_configuration", []string{"bucket"}, id},
		{"aws_s3_bucket_server_side_encryption_configuration", []string{"rule", "apply_server_side_encryption_by_default", "sse_algorithm"}, "AES256"},
		{"aws_s3_bucket_public_access_block", []string{"bucket"}, id},
		{"aws_s3_bucket_public_access_block", []string{"block_public_acls"}, true},
		{"aws_s3_bucket_public_access_block", []string{"block_public_policy"}, true},
		{"aws_s3_bucket_public_access_block", []string{"ignore_public_acls"}, true},
		{"aws_s3_bucket_public_access_block", []string{"restrict_public_buckets"}, true},
		{"aws_s3_bucket_ownership_controls", []string{"bucket"}, id},
		{"aws_s3_bucket_ownership_controls", []string{"rule", "object_ownership"}, "BucketOwnerEnforced"},
		{"aws_s3_bucket_notification", []string{"bucket"}, id},
		{"aws_s3_bucket_notification", []string{"eventbridge"}, true},
		{"aws_s3_bucket_lifecycle_configuration", []string{"bucket"}, id},
		{"aws_s3_bucket_policy", []string{"bucket"}, id},
	} {
		t.Run(c.typ+"/"+strings.Join(c.path, "."), func(t *testing.T) {
			if got := attr(t, m, m.one(t, "resource", c.typ, "this"), c.path...); !reflect.DeepEqual(got, c.want) {
				t.Errorf("%v, want %v", got, c.want)
			}
		})
	}

	t.Run("notifications only when asked", func(t *testing.T) {
		n := m.one(t, "resource", "aws_s3_bucket_notification", "this")
		cond, ok := n.Body.Attributes["count"].Expr.(*hclsyntax.ConditionalExpr)
		if !ok || reference(cond.Condition) != "var.eventbridge" || render(t, m, cond.TrueResult) != 1.0 || render(t, m, cond.FalseResult) != 0.0 {
			t.Errorf("aws_s3_bucket_notification count is not var.eventbridge ? 1 : 0")
		}
		if v, err := m.value(m.one(t, "variable", "eventbridge").Body.Attributes["default"].Expr); err != nil || goValue(v) != false {
			t.Errorf("eventbridge defaults to %v (%v), want false", v, err)
		}
	})

	t.Run("deny insecure transport", func(t *testing.T) {
		pol := m.one(t, "resource", "aws_s3_bucket_policy", "this")
		sts := statements(t, jsonencoded(t, m, pol.Body.Attributes["policy"].Expr))
		want := map[string]any{
			"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
			"Resource":  []any{arn, arn + "/*"},
			"Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
		}
		if len(sts) != 1 || !reflect.DeepEqual(sts[0], want) {
			t.Errorf("bucket policy %v, want [%v]", sts, want)
		}
	})

	t.Run("lifecycle", func(t *testing.T) {
		lc := m.one(t, "resource", "aws_s3_bucket_lifecycle_configuration", "this")
		var abort, expire bool
		for _, b := range lc.Body.Blocks {
			switch {
			case b.Type == "rule":
				abort = attr(t, m, b, "id") == "AbortIncompleteUploads" && attr(t, m, b, "status") == "Enabled" &&
					attr(t, m, b, "abort_incomplete_multipart_upload", "days_after_initiation") == 1.0
			case b.Type == "dynamic" && len(b.Labels) == 1 && b.Labels[0] == "rule":
				if attr(t, m, b, "for_each") != "${var.expirations}" {
					t.Errorf("the dynamic rule is not for each of var.expirations")
				}
				expire = attr(t, m, b, "content", "id") == "${rule.value.id}" && attr(t, m, b, "content", "status") == "Enabled" &&
					attr(t, m, b, "content", "filter", "prefix") == "${rule.value.prefix}" &&
					attr(t, m, b, "content", "expiration", "days") == "${rule.value.days}"
			}
		}
		if !abort || !expire {
			t.Errorf("lifecycle rules: incomplete uploads aborted after a day %v, var.expirations applied %v; want both", abort, expire)
		}
	})

	t.Run("every bucket is made with the module", func(t *testing.T) {
		err := filepath.WalkDir(terraformDir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() || filepath.Base(path) == "bucket" {
				return err
			}
			if matches, _ := filepath.Glob(filepath.Join(path, "*.tf")); len(matches) == 0 {
				return nil
			}
			if bs := loadModule(t, path).find("resource", "aws_s3_bucket"); len(bs) > 0 {
				t.Errorf("%s declares aws_s3_bucket %q itself; use modules/bucket", path, bs[0].Labels[1])
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// TestTerraformBucketsMatchTemplate checks each bucket of the template against its bucket module call in
// Terraform: the template's bucket has the settings the module gives every bucket (SSE-S3, public access
// blocked, bucket-owner objects, a TLS-only bucket policy, incomplete uploads aborted after a day), and the
// call has the template's expiration rules and EventBridge setting.
func TestTerraformBucketsMatchTemplate(t *testing.T) {
	var doc struct {
		Resources map[string]struct {
			Type       string         `yaml:"Type"`
			Properties map[string]any `yaml:"Properties"`
		} `yaml:"Resources"`
	}
	if err := yaml.Unmarshal(infrastructure.Template, &doc); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		sam, module, call string
		// tf rewrites the template's references as the module call writes them.
		tf *strings.Replacer
	}{
		{"RawEventsBucket", "modules/functions", "raw_events_bucket",
			strings.NewReplacer("RawEventsRetentionDays", "${var.raw_events_retention_days}")},
		{"ExportBucket", "modules/analytics_export", "export_bucket",
			strings.NewReplacer("ExportRetentionDays", "${var.export_retention_days}", "${ExportPrefix}", "${var.export_prefix}")},
		{"AthenaResultsBucket", "modules/analytics_export", "results_bucket", strings.NewReplacer()},
	} {
		t.Run(c.sam, func(t *testing.T) {
			r, ok := doc.Resources[c.sam]
			if !ok || r.Type != "AWS::S3::Bucket" {
				t.Fatalf("the template has no bucket %s", c.sam)
			}
			p := r.Properties
			// The settings of the bucket module.
			if got := fmt.Sprint(dig(p, "BucketEncryption", "ServerSideEncryptionConfiguration", 0, "ServerSideEncryptionByDefault", "SSEAlgorithm")); got != "AES256" {
				t.Errorf("SSEAlgorithm %s, the bucket module's AES256", got)
			}
			for _, k := range []string{"BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"} {
				if got := dig(p, "PublicAccessBlockConfiguration", k); got != true {
					t.Errorf("PublicAccessBlockConfiguration.%s = %v, the bucket module's true", k, got)
				}
			}
			if got := dig(p, "OwnershipControls", "Rules", 0, "ObjectOwnership"); got != "BucketOwnerEnforced" {
				t.Errorf("ObjectOwnership %v, the bucket module's BucketOwnerEnforced", got)
			}
			tlsOnly := false
			for _, res := range doc.Resources {
				if res.Type != "AWS::S3::BucketPolicy" || res.Properties["Bucket"] != c.sam {
					continue
				}
				sts, _ := dig(res.Properties, "PolicyDocument", "Statement").([]any)
				for _, s := range sts {
					st, _ := s.(map[string]any)
					tlsOnly = tlsOnly || st["Effect"] == "Deny" && fmt.Sprint(dig(st, "Condition", "Bool", "aws:SecureTransport")) == "false"
				}
			}
			if !tlsOnly {
				t.Errorf("no bucket policy of %s denies requests without TLS, as the bucket module's does", c.sam)
			}

			// The call's own settings.
			m := loadModule(t, filepath.Join(terraformDir, c.module))
			call := m.one(t, "module", c.call)
			if got := attr(t, m, call, "source"); got != "../bucket" {
				t.Errorf("module %s source %v, want ../bucket", c.call, got)
			}
			var expirations []any
			abort := false
			rules, _ := dig(p, "LifecycleConfiguration", "Rules").([]any)
			for _, x := range rules {
				rule, _ := x.(map[string]any)
				if rule["Id"] == "AbortIncompleteUploads" {
					abort = dig(rule, "AbortIncompleteMultipartUpload", "DaysAfterInitiation") == 1
					continue
				}
				e := map[string]any{"id": rule["Id"]}
				switch days := rule["ExpirationInDays"].(type) {
				case int:
					e["days"] = float64(days)
				default:
					e["days"] = c.tf.Replace(fmt.Sprint(days))
				}
				if prefix, ok := rule["Prefix"]; ok {
					e["prefix"] = c.tf.Replace(fmt.Sprint(prefix))
				}
				expirations = append(expirations, e)
			}
			if !abort {
				t.Errorf("the template's %s does not abort incomplete uploads after a day, as the bucket module does", c.sam)
			}
			if got := attr(t, m, call, "expirations"); len(expirations) == 0 || !reflect.DeepEqual(got, expirations) {
				t.Errorf("module %s expirations %v, template %v", c.call, got, expirations)
			}
			eventbridge := dig(p, "NotificationConfiguration", "EventBridgeConfiguration", "EventBridgeEnabled") == true
			got := false
			if _, ok := call.Body.Attributes["eventbridge"]; ok {
				got = attr(t, m, call, "eventbridge") == true
			}
			if got != eventbridge {
				t.Errorf("module %s eventbridge %v, template %v", c.call, got, eventbridge)
			}
		})
	}
}

// dig walks a decoded YAML document by map keys (strings) and list indexes (ints); nil when a step is absent.
func dig(v any, path ...any) any {
	for _, step := range path {
		switch k := step.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

// TestTerraformMovedBlocks checks the moved blocks that carry existing state into module calls: each one's
// source is no longer declared in its module, and its target is a resource the called module declares, so
// an apply over an existing deployment moves the resources rather than replacing them.
func TestTerraformMovedBlocks(t *testing.T) {
	seen := 0
	err := filepath.WalkDir(terraformDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if matches, _ := filepath.Glob(filepath.Join(path, "*.tf")); len(matches) == 0 {
			return nil
		}
		m := loadModule(t, path)
		for _, b := range m.find("moved") {
			seen++
			from, to := reference(b.Body.Attributes["from"].Expr), reference(b.Body.Attributes["to"].Expr)
			// from: TYPE.NAME or TYPE.NAME["key"]; to: module.CALL.TYPE.NAME, optionally [0].
			typ, rest, _ := strings.Cut(from, ".")
			name, _, _ := strings.Cut(rest, "[")
			if len(m.find("resource", typ, name)) > 0 {
				t.Errorf("%s: moved from %s, which the module still declares", path, from)
			}
			target, _, _ := strings.Cut(to, "[")
			parts := strings.SplitN(target, ".", 4)
			if len(parts) != 4 || parts[0] != "module" {
				t.Errorf("%s: moved to %q, want module.CALL.TYPE.NAME", path, to)
				continue
			}
			call := m.one(t, "module", parts[1])
			src, _ := attr(t, m, call, "source").(string)
			if len(loadModule(t, filepath.Join(path, src)).find("resource", parts[2], parts[3])) != 1 {
				t.Errorf("%s: moved to %s, which module %s (%s) does not declare", path, to, parts[1], src)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The raw-events bucket's 7 resources and the export and results buckets' 6 each.
	if seen != 19 {
		t.Errorf("%d moved blocks, want 19", seen)
	}
}
