# The pipeline's alarms, keyed by the SAM template's logical ids, all sending to one KMS-encrypted SNS topic
# (the template's AlarmTopic).

resource "aws_sns_topic" "alarm_topic" {
  name              = "${var.name_prefix}-alarms"
  kms_master_key_id = var.kms_key_id
  tags              = var.tags
}

locals {
  # Every alarm fires when its statistic is above the threshold; an absent metric is not a breach.
  alarms = {
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
    IngestErrorsAlarm = {
      description         = "The ingest function failed."
      namespace           = "AWS/Lambda"
      metric_name         = "Errors"
      statistic           = "Sum"
      threshold           = 0
      comparison_operator = "GreaterThanThreshold"
      period              = 60
      evaluation_periods  = 1
      dimensions          = { FunctionName = var.function_names["ingest"] }
    }
    IngestThrottlesAlarm = {
      description         = "The ingest function was throttled."
      namespace           = "AWS/Lambda"
      metric_name         = "Throttles"
      statistic           = "Sum"
      threshold           = 0
      comparison_operator = "GreaterThanThreshold"
      period              = 60
      evaluation_periods  = 1
      dimensions          = { FunctionName = var.function_names["ingest"] }
    }
    ConsumerErrorsAlarm = {
      description         = "The consumer function failed."
      namespace           = "AWS/Lambda"
      metric_name         = "Errors"
      statistic           = "Sum"
      threshold           = 0
      comparison_operator = "GreaterThanThreshold"
      period              = 60
      evaluation_periods  = 1
      dimensions          = { FunctionName = var.function_names["consumer"] }
    }
    ConsumerThrottlesAlarm = {
      description         = "The consumer function was throttled."
      namespace           = "AWS/Lambda"
      metric_name         = "Throttles"
      statistic           = "Sum"
      threshold           = 0
      comparison_operator = "GreaterThanThreshold"
      period              = 60
      evaluation_periods  = 1
      dimensions          = { FunctionName = var.function_names["consumer"] }
    }
    EnrichErrorsAlarm = {
      description         = "The enrich function failed."
      namespace           = "AWS/Lambda"
      metric_name         = "Errors"
      statistic           = "Sum"
      threshold           = 0
      comparison_operator = "GreaterThanThreshold"
      period              = 60
      evaluation_periods  = 1
      dimensions          = { FunctionName = var.function_names["enrich"] }
    }
    EnrichThrottlesAlarm = {
      description         = "The enrich function was throttled."
      namespace           = "AWS/Lambda"
      metric_name         = "Throttles"
      statistic           = "Sum"
      threshold           = 0
      comparison_operator = "GreaterThanThreshold"
      period              = 60
      evaluation_periods  = 1
      dimensions          = { FunctionName = var.function_names["enrich"] }
    }
    PersistErrorsAlarm = {
      description         = "The persist function failed."
      namespace           = "AWS/Lambda"
      metric_name         = "Errors"
      statistic           = "Sum"
      threshold           = 0
      comparison_operator = "GreaterThanThreshold"
      period              = 60
      evaluation_periods  = 1
      dimensions          = { FunctionName = var.function_names["persist"] }
    }
    PersistThrottlesAlarm = {
      description         = "The persist function was throttled."
      namespace           = "AWS/Lambda"
      metric_name         = "Throttles"
      statistic           = "Sum"
      threshold           = 0
      comparison_operator = "GreaterThanThreshold"
      period              = 60
      evaluation_periods  = 1
      dimensions          = { FunctionName = var.function_names["persist"] }
    }
    AnalyticsErrorsAlarm = {
      description         = "The analytics function failed."
      namespace           = "AWS/Lambda"
      metric_name         = "Errors"
      statistic           = "Sum"
      threshold           = 0
      comparison_operator = "GreaterThanThreshold"
      period              = 60
      evaluation_periods  = 1
      dimensions          = { FunctionName = var.function_names["analytics"] }
    }
    AnalyticsThrottlesAlarm = {
      description         = "The analytics function was throttled."
      namespace           = "AWS/Lambda"
      metric_name         = "Throttles"
      statistic           = "Sum"
      threshold           = 0
      comparison_operator = "GreaterThanThreshold"
      period              = 60
      evaluation_periods  = 1
      dimensions          = { FunctionName = var.function_names["analytics"] }
    }
    ExportErrorsAlarm = {
      description         = "The export function failed."
      namespace           = "AWS/Lambda"
      metric_name         = "Errors"
      statistic           = "Sum"
      threshold           = 0
      comparison_operator = "GreaterThanThreshold"
      period              = 60
      evaluation_periods  = 1
      dimensions          = { FunctionName = var.function_names["export"] }
    }
    ExportThrottlesAlarm = {
      description         = "The export function was throttled."
      namespace           = "AWS/Lambda"
      metric_name         = "Throttles"
      statistic           = "Sum"
      threshold           = 0
      comparison_operator = "GreaterThanThreshold"
      period              = 60
      evaluation_periods  = 1
      dimensions          = { FunctionName = var.function_names["export"] }
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
  }
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
