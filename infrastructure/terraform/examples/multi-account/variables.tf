variable "region" {
  description = "AWS region of both deployments."
  type        = string
  default     = "eu-west-1"
}

variable "name" {
  description = "Prefix of both deployments' resource names (<name>-staging, <name>-production)."
  type        = string
  default     = "sdp"
}

variable "staging_role_arn" {
  description = "Role Terraform assumes in the staging account."
  type        = string
}

variable "production_role_arn" {
  description = "Role Terraform assumes in the production account."
  type        = string
}

variable "production_jwt_issuer" {
  description = "Issuer URL of the production API's JWT authorizer; null keeps IAM authorization."
  type        = string
  default     = null
}

variable "production_jwt_audience" {
  description = "Accepted audiences of the production API's JWT authorizer."
  type        = list(string)
  default     = []
}

variable "build_dir" {
  description = "Directory of the `make lambda` output; null for the repository's bin/lambda."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags of every resource in both accounts (each also gets Environment)."
  type        = map(string)
  default     = { Project = "serverless-data-platform" }
}
