variable "name" {
  description = "Name of the HTTP API."
  type        = string
}

variable "ingest_function_name" {
  description = "Name of the ingest function, which the API may invoke."
  type        = string
}

variable "ingest_invoke_arn" {
  description = "Invoke ARN of the ingest function (the route's integration)."
  type        = string
}

variable "authorization_type" {
  description = "How POST /v1/events is authorized: AWS_IAM (SigV4-signed requests) or JWT."
  type        = string
  default     = "AWS_IAM"

  validation {
    condition     = contains(["AWS_IAM", "JWT"], var.authorization_type)
    error_message = "The authorization_type must be AWS_IAM or JWT."
  }
}

variable "jwt_issuer" {
  description = "Issuer URL of the JWT authorizer (with authorization_type JWT)."
  type        = string
  default     = null
}

variable "jwt_audience" {
  description = "Accepted audiences of the JWT authorizer (with authorization_type JWT)."
  type        = list(string)
  default     = []
}

variable "throttling_burst_limit" {
  description = "Burst limit of the default route settings (requests)."
  type        = number
  default     = 5000
}

variable "throttling_rate_limit" {
  description = "Steady rate limit of the default route settings (requests per second)."
  type        = number
  default     = 10000
}

variable "tags" {
  description = "Tags of the API and its stage."
  type        = map(string)
  default     = {}
}
