# The pipeline's alarms, keyed by the SAM template's logical ids, all sending to one KMS-encrypted SNS topic
# (the template's AlarmTopic), and the pipeline's dashboard.

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

# CloudWatch cannot publish to a topic encrypted with the AWS managed key alias/aws/sns, whose policy cannot
# be changed: the topic has its own key, which the account administers and CloudWatch may use.
resource "aws_kms_key" "alarm_topic" {
  description         = "Encrypts the ${var.name_prefix} alarm topic."
  enable_key_rotation = true
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministers"
        Effect    = "Allow"
        Principal = { AWS = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchPublishes"
        Effect    = "Allow"
        Principal = { Service = "cloudwatch.amazonaws.com" }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey*"]
        Resource  = "*"
      },
    ]
  })
  tags = var.tags
}

resource "aws_sns_topic" "alarm_topic" {
  name              = "${var.name_prefix}-alarms"
  kms_master_key_id = aws_kms_key.alarm_topic.arn
  tags              = var.tags
}

locals {
  # The functions, by handler; each has an alarm on its errors and one on its throttles, named as the SAM
  # template names them (IngestErrorsAlarm, IngestThrottlesAlarm, ...).
  functions = ["ingest", "consumer", "enrich", "persist", "analytics", "export"]

  function_alarms = {
    for pair in setproduct(local.functions, ["Errors", "Throttles"]) :
    "${title(pair[0])}${pair[1]}Alarm" => {
      description         = pair[1] == "Errors" ? "The ${pair[0]} function failed." : "The ${pair[0]} function was throttled."
      namespace           = "AWS/Lambda"
      metric_name         = pair[1]
      statistic           = "Sum"
      threshold           = 0
      comparison_operator = "GreaterThanThreshold"
      period              = 60
      evaluation_periods  = 1
      dimensions          = { FunctionName = var.function_names[pair[0]] }
    }
  }

  # Every alarm fires when its statistic is above the threshold; an absent metric is not a breach.
  alarms = merge(local.function_alarms, {
    ConsumerIteratorAgeAlarm = {
      description         = "The consumer is more than a minute behind the stream."
      namespace           = "AWS/Lambda"
      metric_name         = "IteratorAge"
      statistic           = "Maximum"
      threshold           = 60000
      comparison_operator = "GreaterThanThreshold"
      period              = 60
      evaluation_periods  = 5
      dimensions          = { FunctionName = var.function_names["consumer"] }
    }
    DeadLetterQueueDepthAlarm = {
      description         = "Records were given up and sent to the dead-letter queue."
      namespace           = "AWS/SQS"
      metric_name         = "ApproximateNumberOfMessagesVisible"
      statistic           = "Maximum"
      threshold           = 0
      comparison_operator = "GreaterThanThreshold"
      period              = 60
      evaluation_periods  = 1
      dimensions          = { QueueName = var.dead_letter_queue_name }
    }
    WorkflowFailuresAlarm = {
      description         = "Workflow executions failed."
      namespace           = "AWS/States"
      metric_name         = "ExecutionsFailed"
      statistic           = "Sum"
      threshold           = 0
      comparison_operator = "GreaterThanThreshold"
      period              = 60
      evaluation_periods  = 1
      dimensions          = { StateMachineArn = var.state_machine_arn }
    }
    WorkflowTimeoutsAlarm = {
      description         = "Workflow executions timed out."
      namespace           = "AWS/States"
      metric_name         = "ExecutionsTimedOut"
      statistic           = "Sum"
      threshold           = 0
      comparison_operator = "GreaterThanThreshold"
      period              = 60
      evaluation_periods  = 1
      dimensions          = { StateMachineArn = var.state_machine_arn }
    }
  })
}

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = local.alarms

  alarm_name          = "${var.name_prefix}-${each.key}"
  alarm_description   = each.value.description
  namespace           = each.value.namespace
  metric_name         = each.value.metric_name
  statistic           = each.value.statistic
  threshold           = each.value.threshold
  comparison_operator = each.value.comparison_operator
  period              = each.value.period
  evaluation_periods  = each.value.evaluation_periods
  dimensions          = each.value.dimensions
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarm_topic.arn]
  ok_actions          = [aws_sns_topic.alarm_topic.arn]
  tags                = var.tags
}

locals {
  lambda_metrics = [for m in ["Errors", "Throttles"] : [
    for h in local.functions :
    ["AWS/Lambda", m, "FunctionName", var.function_names[h]]
  ]]

  # The SAM template's Dashboard, widget for widget.
  dashboard_widgets = [
    {
      type = "metric", x = 0, y = 0, width = 12, height = 6
      properties = {
        title = "Ingest", region = data.aws_region.current.name, stat = "Sum", period = 60, view = "timeSeries"
        metrics = [
          ["AWS/Lambda", "Invocations", "FunctionName", var.function_names["ingest"]],
          ["AWS/Kinesis", "IncomingRecords", "StreamName", var.stream_name],
          ["AWS/ApiGateway", "Count", "ApiId", var.api_id],
        ]
      }
    },
    {
      type = "metric", x = 12, y = 0, width = 12, height = 6
      properties = {
        title = "Consumer iterator age (ms)", region = data.aws_region.current.name, stat = "Maximum", period = 60, view = "timeSeries"
        metrics = [
          ["AWS/Lambda", "IteratorAge", "FunctionName", var.function_names["consumer"]],
        ]
      }
    },
    {
      type = "metric", x = 0, y = 6, width = 12, height = 6
      properties = {
        title = "Dead-letter queue depth", region = data.aws_region.current.name, stat = "Maximum", period = 60, view = "timeSeries"
        metrics = [
          ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", var.dead_letter_queue_name],
        ]
      }
    },
    {
      type = "metric", x = 12, y = 6, width = 12, height = 6
      properties = {
        title   = "Function errors and throttles", region = data.aws_region.current.name, stat = "Sum", period = 60, view = "timeSeries"
        metrics = concat(local.lambda_metrics...)
      }
    },
    {
      type = "metric", x = 0, y = 12, width = 24, height = 6
      properties = {
        title = "Workflow executions", region = data.aws_region.current.name, stat = "Sum", period = 60, view = "timeSeries"
        metrics = [for m in ["ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed", "ExecutionsTimedOut"] :
          ["AWS/States", m, "StateMachineArn", var.state_machine_arn]
        ]
      }
    },
  ]
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = "${var.name_prefix}-pipeline"
  dashboard_body = jsonencode({ widgets = local.dashboard_widgets })
}
