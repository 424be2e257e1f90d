# The six Lambda functions. `make lambda` builds one bootstrap per function as
# <build_dir>/<handler>/bootstrap; each is zipped here and deployed on provided.al2023 (arm64), where the
# handler setting tells the shared bootstrap which function it is.

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  # The state machine's ARN is built from its name so that the functions do not depend on the workflow,
  # which itself depends on the functions' ARNs.
  workflow_arn      = "arn:${data.aws_partition.current.partition}:states:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:stateMachine:${var.workflow_name}"
  export_bucket_arn = "arn:${data.aws_partition.current.partition}:s3:::${var.export_bucket_name}"
  # The ingest function's own ARN, from its name: it continues a large object by invoking itself.
  ingest_arn = "arn:${data.aws_partition.current.partition}:lambda:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:function:${var.name_prefix}-ingest"

  common_environment = {
    CURATED_TABLE = var.curated_table_name
    EVENT_STREAM  = var.stream_name
  }

  analytics_environment = {
    AGGREGATES_TABLE     = var.aggregates_table_name
    SDP_WINDOW_SIZE      = var.window_size
    SDP_ALLOWED_LATENESS = var.allowed_lateness
  }

  # One entry per function, keyed by its handler name (the SAM template's Handler settings).
  functions = {
    ingest = {
      description          = "Accepts events over HTTP and writes them to the stream."
      timeout              = 30
      memory_size          = 512
      reserved_concurrency = null
      environment          = local.common_environment
    }
    consumer = {
      description          = "Reads the stream in batches and starts the workflow once per batch."
      timeout              = 60
      memory_size          = 512
      reserved_concurrency = null
      environment          = merge(local.common_environment, { WORKFLOW_ARN = local.workflow_arn })
    }
    enrich = {
      description          = "The workflow's Enrich task - checks, processing rules, derived fields, reference data."
      timeout              = 30
      memory_size          = 512
      reserved_concurrency = null
      environment          = local.common_environment
    }
    persist = {
      description          = "The workflow's Persist task - curated items, put-if-absent by event id."
      timeout              = 30
      memory_size          = 512
      reserved_concurrency = null
      environment          = local.common_environment
    }
    analytics = {
      description          = "The workflow's Analytics task - windowed aggregates."
      timeout              = 30
      memory_size          = 512
      reserved_concurrency = null
      environment          = merge(local.common_environment, local.analytics_environment)
    }
    export = {
      description          = "Writes the closed analytics windows to the export bucket for Athena and QuickSight."
      timeout              = 120
      memory_size          = 512
      reserved_concurrency = 1
      environment = merge(local.common_environment, local.analytics_environment, {
        SDP_EXPORT_BUCKET = var.export_bucket_name
        SDP_EXPORT_PREFIX = var.export_prefix
      })
    }
  }

  # Each function's own permissions, beyond writing its logs and traces.
  statements = {
    ingest = [
      {
        Sid      = "PutEvents"
        Effect   = "Allow"
        Action   = ["kinesis:PutRecord", "kinesis:PutRecords"]
        Resource = var.stream_arn
      },
      {
        Sid      = "ReadRawObjects"
        Effect   = "Allow"
        Action   = ["s3:GetObject"]
        Resource = "${module.raw_events_bucket.arn}/*"
      },
      {
        Sid      = "WriteErrorsAndProgress"
        Effect   = "Allow"
        Action   = ["s3:PutObject"]
        Resource = ["${module.raw_events_bucket.arn}/errors/*", "${module.raw_events_bucket.arn}/progress/*"]
      },
      {
        Sid      = "ContinueLargeObjects"
        Effect   = "Allow"
        Action   = ["lambda:InvokeFunction"]
        Resource = local.ingest_arn
      },
    ]
    consumer = [
      {
        Effect = "Allow"
        Action = [
          "kinesis:DescribeStream",
          "kinesis:DescribeStreamSummary",
          "kinesis:GetRecords",
          "kinesis:GetShardIterator",
          "kinesis:ListShards",
          "kinesis:SubscribeToShard",
        ]
        Resource = var.stream_arn
      },
      {
        Effect   = "Allow"
        Action   = ["kinesis:ListStreams"]
        Resource = "*"
      },
      {
        Effect   = "Allow"
        Action   = ["states:StartSyncExecution"]
        Resource = local.workflow_arn
      },
      {
        Effect   = "Allow"
        Action   = ["sqs:SendMessage"]
        Resource = var.dead_letter_queue_arn
      },
    ]
    enrich = []
    persist = [{
      Effect   = "Allow"
      Action   = ["dynamodb:PutItem", "dynamodb:BatchWriteItem", "dynamodb:BatchGetItem", "dynamodb:DescribeTable"]
      Resource = var.curated_table_arn
    }]
    analytics = [{
      Effect = "Allow"
      Action = [
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:BatchGetItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:ConditionCheckItem",
        "dynamodb:Query",
        "dynamodb:Scan",
        "dynamodb:DescribeTable",
      ]
      Resource = [var.aggregates_table_arn, "${var.aggregates_table_arn}/index/*"]
    }]
    export = [
      {
        Sid      = "ReadAggregates"
        Effect   = "Allow"
        Action   = ["dynamodb:Query", "dynamodb:Scan"]
        Resource = [var.aggregates_table_arn, "${var.aggregates_table_arn}/index/*"]
      },
      {
        Sid      = "WriteExportPrefix"
        Effect   = "Allow"
        Action   = ["s3:PutObject", "s3:GetObject"]
        Resource = "${local.export_bucket_arn}/${var.export_prefix}/*"
      },
      {
        Sid      = "ListExportBucket"
        Effect   = "Allow"
        Action   = ["s3:ListBucket"]
        Resource = local.export_bucket_arn
      },
    ]
  }
}

data "archive_file" "bootstrap" {
  for_each = local.functions

  type        = "zip"
  source_file = "${var.build_dir}/${each.key}/bootstrap"
  output_path = "${var.build_dir}/${each.key}.zip"
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "function" {
  for_each = local.functions

  name               = "${var.name_prefix}-${each.key}"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

# Logs go only to the function's own log group, created below.
resource "aws_iam_role_policy" "logs" {
  for_each = local.functions

  name = "logs"
  role = aws_iam_role.function[each.key].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
      Resource = "${aws_cloudwatch_log_group.function[each.key].arn}:*"
    }]
  })
}

resource "aws_iam_role_policy_attachment" "xray" {
  for_each = local.functions

  role       = aws_iam_role.function[each.key].name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AWSXRayDaemonWriteAccess"
}

resource "aws_iam_role_policy" "function" {
  for_each = { for k, v in local.statements : k => v if length(v) > 0 }

  name = "function"
  role = aws_iam_role.function[each.key].id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = each.value
  })
}

resource "aws_cloudwatch_log_group" "function" {
  for_each = local.functions

  name              = "/aws/lambda/${var.name_prefix}-${each.key}"
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

resource "aws_lambda_function" "this" {
  for_each = local.functions

  function_name                  = "${var.name_prefix}-${each.key}"
  description                    = each.value.description
  role                           = aws_iam_role.function[each.key].arn
  handler                        = each.key
  runtime                        = "provided.al2023"
  architectures                  = ["arm64"]
  filename                       = data.archive_file.bootstrap[each.key].output_path
  source_code_hash               = data.archive_file.bootstrap[each.key].output_base64sha256
  timeout                        = each.value.timeout
  memory_size                    = each.value.memory_size
  reserved_concurrent_executions = each.value.reserved_concurrency

  environment {
    variables = each.value.environment
  }

  tracing_config {
    mode = "Active"
  }

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.function[each.key].name
  }

  tags = var.tags

  depends_on = [aws_iam_role_policy.logs, aws_iam_role_policy.function]
}

# The consumer reads the stream with the SAM template's event source settings: partial batch failures,
# bisection on error, bounded retries and record age, and the dead-letter queue for what is given up.
resource "aws_lambda_event_source_mapping" "consumer" {
  function_name                      = aws_lambda_function.this["consumer"].arn
  event_source_arn                   = var.stream_arn
  starting_position                  = "TRIM_HORIZON"
  batch_size                         = var.consumer_batch_size
  maximum_batching_window_in_seconds = var.consumer_batching_window_seconds
  parallelization_factor             = var.consumer_parallelization_factor
  bisect_batch_on_function_error     = true
  maximum_retry_attempts             = var.consumer_max_retries
  maximum_record_age_in_seconds      = var.consumer_max_record_age_seconds
  function_response_types            = ["ReportBatchItemFailures"]

  destination_config {
    on_failure {
      destination_arn = var.dead_letter_queue_arn
    }
  }

  depends_on = [aws_iam_role_policy.function]
}

# The export runs every five minutes, one run at a time, never retried: the next run redoes a failed one.
resource "aws_lambda_function_event_invoke_config" "export" {
  function_name                = aws_lambda_function.this["export"].function_name
  maximum_retry_attempts       = 0
  maximum_event_age_in_seconds = 300
}

resource "aws_cloudwatch_event_rule" "export" {
  name                = "${var.name_prefix}-export"
  description         = "Export the closed analytics windows."
  schedule_expression = "rate(5 minutes)"
  tags                = var.tags
}

resource "aws_cloudwatch_event_target" "export" {
  rule = aws_cloudwatch_event_rule.export.name
  arn  = aws_lambda_function.this["export"].arn
}

resource "aws_lambda_permission" "export_schedule" {
  statement_id  = "AllowSchedule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this["export"].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.export.arn
}
