# The Express workflow, from the same Amazon States Language file `sdp up` interprets locally. Express
# executions have no execution history API: their history is the log group, written at level ALL with
# the execution data (`sdp executions` reads it).

locals {
  # The repository's definition, four levels above this module (infrastructure/terraform/modules/workflow).
  definition_path = coalesce(var.definition_path, "${path.module}/../../../../workflow/definition.asl.json")
  function_arns   = [var.enrich_function_arn, var.persist_function_arn, var.analytics_function_arn]
}

resource "aws_cloudwatch_log_group" "this" {
  name              = "/aws/vendedlogs/states/${var.name}"
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["states.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "workflow" {
  statement {
    sid       = "InvokeTasks"
    actions   = ["lambda:InvokeFunction"]
    resources = concat(local.function_arns, [for arn in local.function_arns : "${arn}:*"])
  }

  # Log delivery is configured account-wide by Step Functions: these actions take no resource.
  statement {
    sid = "LogDelivery"
    actions = [
      "logs:CreateLogDelivery",
      "logs:GetLogDelivery",
      "logs:UpdateLogDelivery",
      "logs:DeleteLogDelivery",
      "logs:ListLogDeliveries",
      "logs:PutResourcePolicy",
      "logs:DescribeResourcePolicies",
      "logs:DescribeLogGroups",
    ]
    resources = ["*"]
  }

  statement {
    sid = "Tracing"
    actions = [
      "xray:PutTraceSegments",
      "xray:PutTelemetryRecords",
      "xray:GetSamplingRules",
      "xray:GetSamplingTargets",
    ]
    resources = ["*"]
  }
}

resource "aws_iam_role" "this" {
  name               = var.name
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "this" {
  name   = "workflow"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.workflow.json
}

resource "aws_sfn_state_machine" "this" {
  name     = var.name
  type     = "EXPRESS"
  role_arn = aws_iam_role.this.arn
  definition = templatefile(local.definition_path, {
    EnrichFunctionArn    = var.enrich_function_arn
    PersistFunctionArn   = var.persist_function_arn
    AnalyticsFunctionArn = var.analytics_function_arn
  })

  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.this.arn}:*"
    include_execution_data = true
    level                  = "ALL"
  }

  tracing_configuration {
    enabled = true
  }

  tags = var.tags

  depends_on = [aws_iam_role_policy.this]
}
