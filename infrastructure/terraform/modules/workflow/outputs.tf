output "arn" {
  description = "ARN of the state machine."
  value       = aws_sfn_state_machine.this.arn
}

output "name" {
  description = "Name of the state machine (the WorkflowFailuresAlarm's StateMachineArn dimension is its ARN)."
  value       = aws_sfn_state_machine.this.name
}

output "log_group_name" {
  description = "The execution log group, which `sdp executions --log-group` reads."
  value       = aws_cloudwatch_log_group.this.name
}
