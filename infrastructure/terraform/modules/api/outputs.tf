output "api_id" {
  description = "Identifier of the HTTP API."
  value       = aws_apigatewayv2_api.this.id
}

output "ingest_url" {
  description = "POST events here."
  value       = "${aws_apigatewayv2_api.this.api_endpoint}/v1/events"
}

output "execution_arn" {
  description = "Execution ARN of the API (for IAM policies allowing execute-api:Invoke)."
  value       = aws_apigatewayv2_api.this.execution_arn
}
