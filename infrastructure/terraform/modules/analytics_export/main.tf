# Storage of the analytics export: the bucket the export function writes the closed windows to, the Glue
# database and table Athena reads them through (partition projection, no crawler), the Athena workgroup
# and its results bucket. The SAM template's ExportBucket, AthenaResultsBucket, AnalyticsDatabase,
# WindowsTable and AnalyticsWorkGroup.

data "aws_caller_identity" "current" {}

locals {
  # Both buckets: SSE-S3, no public access, bucket-owner objects, TLS only.
  buckets = {
    export  = aws_s3_bucket.export
    results = aws_s3_bucket.results
  }
}

resource "aws_s3_bucket" "export" {
  bucket_prefix = "${var.name}-export-"
  tags          = var.tags
}

resource "aws_s3_bucket" "results" {
  bucket_prefix = "${var.name}-athena-"
  tags          = var.tags
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  for_each = local.buckets

  bucket = each.value.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each = local.buckets

  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "this" {
  for_each = local.buckets

  bucket = each.value.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_policy" "this" {
  for_each = local.buckets

  bucket = each.value.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = [each.value.arn, "${each.value.arn}/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  })

  depends_on = [aws_s3_bucket_public_access_block.this]
}

# The data objects expire; the export's checkpoint beside them does not.
resource "aws_s3_bucket_lifecycle_configuration" "export" {
  bucket = aws_s3_bucket.export.id

  rule {
    id     = "ExpireExportedWindows"
    status = "Enabled"
    filter {
      prefix = "${var.export_prefix}/dt="
    }
    expiration {
      days = var.export_retention_days
    }
  }

  rule {
    id     = "AbortIncompleteUploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

# Query results are kept a week.
resource "aws_s3_bucket_lifecycle_configuration" "results" {
  bucket = aws_s3_bucket.results.id

  rule {
    id     = "ExpireResults"
    status = "Enabled"
    filter {}
    expiration {
      days = 7
    }
  }

  rule {
    id     = "AbortIncompleteUploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

resource "aws_glue_catalog_database" "analytics" {
  catalog_id  = data.aws_caller_identity.current.account_id
  name        = var.database_name
  description = "The serverless data platform's analytics, exported from the aggregates table."
}

# One row per closed window (type, source): the columns of analytics/export.Record. Partition projection
# computes the dt and hour partitions from the query's filter.
resource "aws_glue_catalog_table" "windows" {
  catalog_id    = data.aws_caller_identity.current.account_id
  database_name = aws_glue_catalog_database.analytics.name
  name          = "windows"
  description   = "Closed analytics windows (one event type and source over one window of event time)."
  table_type    = "EXTERNAL_TABLE"

  parameters = {
    "classification"              = "json"
    "compressionType"             = "gzip"
    "projection.enabled"          = "true"
    "projection.dt.type"          = "date"
    "projection.dt.format"        = "yyyy-MM-dd"
    "projection.dt.range"         = "NOW-3YEARS,NOW"
    "projection.dt.interval"      = "1"
    "projection.dt.interval.unit" = "DAYS"
    "projection.hour.type"        = "integer"
    "projection.hour.range"       = "0,23"
    "projection.hour.digits"      = "2"
    "storage.location.template"   = "s3://${aws_s3_bucket.export.bucket}/${var.export_prefix}/dt=$${dt}/hour=$${hour}/"
  }

  partition_keys {
    name = "dt"
    type = "string"
  }

  partition_keys {
    name = "hour"
    type = "string"
  }

  storage_descriptor {
    location      = "s3://${aws_s3_bucket.export.bucket}/${var.export_prefix}/"
    input_format  = "org.apache.hadoop.mapred.TextInputFormat"
    output_format = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
    compressed    = true

    ser_de_info {
      serialization_library = "org.apache.hive.hcatalog.data.JsonSerDe"
    }

    columns {
      name    = "window_start"
      type    = "timestamp"
      comment = "Start of the window, UTC."
    }
    columns {
      name    = "window_end"
      type    = "timestamp"
      comment = "End of the window (exclusive), UTC."
    }
    columns {
      name = "type"
      type = "string"
    }
    columns {
      name = "source"
      type = "string"
    }
    columns {
      name    = "count"
      type    = "bigint"
      comment = "Events counted in the window."
    }
    columns {
      name    = "late"
      type    = "bigint"
      comment = "Events that arrived after the window closed, counted nowhere else."
    }
    columns {
      name    = "unique_subjects"
      type    = "bigint"
      comment = "Estimated distinct subjects (HyperLogLog, about 0.8% error); not additive across windows."
    }
    columns {
      name    = "top_subjects"
      type    = "array<struct<subject:string,count:bigint>>"
      comment = "Most frequent subjects, most frequent first; each count at most top_error short."
    }
    columns {
      name = "top_error"
      type = "bigint"
    }
    columns {
      name    = "measures"
      type    = "map<string,struct<count:bigint,sum:double,min:double,max:double,p50:double,p90:double,p95:double,p99:double>>"
      comment = "Statistics per measure; quantiles within 1%."
    }
  }
}

resource "aws_athena_workgroup" "analytics" {
  name          = "${var.name}-analytics"
  description   = "Queries of the exported analytics windows (QuickSight's Athena data source uses it)."
  state         = "ENABLED"
  force_destroy = true

  configuration {
    enforce_workgroup_configuration    = true
    publish_cloudwatch_metrics_enabled = true
    bytes_scanned_cutoff_per_query     = 10737418240

    engine_version {
      selected_engine_version = "Athena engine version 3"
    }

    result_configuration {
      output_location = "s3://${aws_s3_bucket.results.bucket}/results/"

      encryption_configuration {
        encryption_option = "SSE_S3"
      }
    }
  }

  tags = var.tags
}
