# Storage of the analytics export: the bucket the export function writes the closed windows to, the Glue
# database and table Athena reads them through (partition projection, no crawler), the Athena workgroup
# and its results bucket. The SAM template's ExportBucket, AthenaResultsBucket, AnalyticsDatabase,
# WindowsTable and AnalyticsWorkGroup.

data "aws_caller_identity" "current" {}

module "export_bucket" {
  source = "../bucket"

  name_prefix = "${var.name}-export-"
  # The data objects expire; the export's checkpoint beside them does not.
  expirations = [{ id = "ExpireExportedWindows", prefix = "${var.export_prefix}/dt=", days = var.export_retention_days }]
  tags        = var.tags
}

module "results_bucket" {
  source = "../bucket"

  name_prefix = "${var.name}-athena-"
  # Query results are kept a week.
  expirations = [{ id = "ExpireResults", days = 7 }]
  tags        = var.tags
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
    "storage.location.template"   = "s3://${module.export_bucket.bucket}/${var.export_prefix}/dt=$${dt}/hour=$${hour}/"
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
    location      = "s3://${module.export_bucket.bucket}/${var.export_prefix}/"
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
      output_location = "s3://${module.results_bucket.bucket}/results/"

      encryption_configuration {
        encryption_option = "SSE_S3"
      }
    }
  }

  tags = var.tags
}

# The buckets' resources were this module's own before the bucket module: existing state moves, nothing is
# replaced.
moved {
  from = aws_s3_bucket.export
  to   = module.export_bucket.aws_s3_bucket.this
}

moved {
  from = aws_s3_bucket_server_side_encryption_configuration.this["export"]
  to   = module.export_bucket.aws_s3_bucket_server_side_encryption_configuration.this
}

moved {
  from = aws_s3_bucket_public_access_block.this["export"]
  to   = module.export_bucket.aws_s3_bucket_public_access_block.this
}

moved {
  from = aws_s3_bucket_ownership_controls.this["export"]
  to   = module.export_bucket.aws_s3_bucket_ownership_controls.this
}

moved {
  from = aws_s3_bucket_policy.this["export"]
  to   = module.export_bucket.aws_s3_bucket_policy.this
}

moved {
  from = aws_s3_bucket_lifecycle_configuration.export
  to   = module.export_bucket.aws_s3_bucket_lifecycle_configuration.this
}

moved {
  from = aws_s3_bucket.results
  to   = module.results_bucket.aws_s3_bucket.this
}

moved {
  from = aws_s3_bucket_server_side_encryption_configuration.this["results"]
  to   = module.results_bucket.aws_s3_bucket_server_side_encryption_configuration.this
}

moved {
  from = aws_s3_bucket_public_access_block.this["results"]
  to   = module.results_bucket.aws_s3_bucket_public_access_block.this
}

moved {
  from = aws_s3_bucket_ownership_controls.this["results"]
  to   = module.results_bucket.aws_s3_bucket_ownership_controls.this
}

moved {
  from = aws_s3_bucket_policy.this["results"]
  to   = module.results_bucket.aws_s3_bucket_policy.this
}

moved {
  from = aws_s3_bucket_lifecycle_configuration.results
  to   = module.results_bucket.aws_s3_bucket_lifecycle_configuration.this
}
