# The second way in: objects of events (NDJSON or a JSON array, optionally gzip) dropped into the raw-events
# bucket reach the ingest function as EventBridge "Object Created" events. The function writes rejected
# lines under errors/ and its progress through large objects under progress/ (and skips both prefixes).

resource "aws_s3_bucket" "raw_events" {
  bucket_prefix = "${var.name_prefix}-raw-"
  tags          = var.tags
}

resource "aws_s3_bucket_server_side_encryption_configuration" "raw_events" {
  bucket = aws_s3_bucket.raw_events.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_public_access_block" "raw_events" {
  bucket                  = aws_s3_bucket.raw_events.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "raw_events" {
  bucket = aws_s3_bucket.raw_events.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_notification" "raw_events" {
  bucket      = aws_s3_bucket.raw_events.id
  eventbridge = true
}

resource "aws_s3_bucket_lifecycle_configuration" "raw_events" {
  bucket = aws_s3_bucket.raw_events.id

  rule {
    id     = "ExpireRawObjects"
    status = "Enabled"
    filter {}
    expiration {
      days = var.raw_events_retention_days
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

resource "aws_s3_bucket_policy" "raw_events" {
  bucket = aws_s3_bucket.raw_events.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = [aws_s3_bucket.raw_events.arn, "${aws_s3_bucket.raw_events.arn}/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  })

  depends_on = [aws_s3_bucket_public_access_block.raw_events]
}

resource "aws_cloudwatch_event_rule" "raw_object_created" {
  name        = "${var.name_prefix}-raw-object-created"
  description = "Objects created in the raw-events bucket, for the ingest function."
  event_pattern = jsonencode({
    source        = ["aws.s3"]
    "detail-type" = ["Object Created"]
    detail = {
      bucket = { name = [aws_s3_bucket.raw_events.bucket] }
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
