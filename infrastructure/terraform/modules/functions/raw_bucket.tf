# The second way in: objects of events (NDJSON or a JSON array, optionally gzip) dropped into the raw-events
# bucket reach the ingest function as EventBridge "Object Created" events. The function writes rejected
# lines under errors/ and its progress through large objects under progress/ (and skips both prefixes).

module "raw_events_bucket" {
  source = "../bucket"

  name_prefix = "${var.name_prefix}-raw-"
  expirations = [{ id = "ExpireRawObjects", days = var.raw_events_retention_days }]
  eventbridge = true
  tags        = var.tags
}

resource "aws_cloudwatch_event_rule" "raw_object_created" {
  name        = "${var.name_prefix}-raw-object-created"
  description = "Objects created in the raw-events bucket, for the ingest function."
  event_pattern = jsonencode({
    source        = ["aws.s3"]
    "detail-type" = ["Object Created"]
    detail = {
      bucket = { name = [module.raw_events_bucket.bucket] }
    }
  })
  tags = var.tags
}

resource "aws_cloudwatch_event_target" "raw_object_created" {
  rule = aws_cloudwatch_event_rule.raw_object_created.name
  arn  = aws_lambda_function.this["ingest"].arn

  retry_policy {
    maximum_retry_attempts       = 3
    maximum_event_age_in_seconds = 3600
  }
}

resource "aws_lambda_permission" "raw_object_created" {
  statement_id  = "AllowRawObjectCreated"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this["ingest"].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.raw_object_created.arn
}

# The bucket's resources were this module's own before the bucket module: existing state moves, nothing is
# replaced.
moved {
  from = aws_s3_bucket.raw_events
  to   = module.raw_events_bucket.aws_s3_bucket.this
}

moved {
  from = aws_s3_bucket_server_side_encryption_configuration.raw_events
  to   = module.raw_events_bucket.aws_s3_bucket_server_side_encryption_configuration.this
}

moved {
  from = aws_s3_bucket_public_access_block.raw_events
  to   = module.raw_events_bucket.aws_s3_bucket_public_access_block.this
}

moved {
  from = aws_s3_bucket_ownership_controls.raw_events
  to   = module.raw_events_bucket.aws_s3_bucket_ownership_controls.this
}

moved {
  from = aws_s3_bucket_notification.raw_events
  to   = module.raw_events_bucket.aws_s3_bucket_notification.this[0]
}

moved {
  from = aws_s3_bucket_lifecycle_configuration.raw_events
  to   = module.raw_events_bucket.aws_s3_bucket_lifecycle_configuration.this
}

moved {
  from = aws_s3_bucket_policy.raw_events
  to   = module.raw_events_bucket.aws_s3_bucket_policy.this
}
