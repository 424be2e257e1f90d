# The pipeline deployed twice, to a staging account and to a production account, from one configuration.
# Terraform runs with credentials of a third (deployment) account and assumes a role in each target.

provider "aws" {
  alias  = "staging"
  region = var.region

  assume_role {
    role_arn     = var.staging_role_arn
    session_name = "sdp-terraform"
  }

  default_tags {
    tags = merge(var.tags, { Environment = "staging" })
  }
}

provider "aws" {
  alias  = "production"
  region = var.region

  assume_role {
    role_arn     = var.production_role_arn
    session_name = "sdp-terraform"
  }

  default_tags {
    tags = merge(var.tags, { Environment = "production" })
  }
}

locals {
  # The repository's bin/lambda, where `make lambda` writes the bootstraps.
  build_dir = coalesce(var.build_dir, "${path.root}/../../../../bin/lambda")
}

module "staging" {
  source = "../../modules/pipeline"
  providers = {
    aws = aws.staging
  }

  name      = "${var.name}-staging"
  build_dir = local.build_dir
}

module "production" {
  source = "../../modules/pipeline"
  providers = {
    aws = aws.production
  }

  name                   = "${var.name}-production"
  build_dir              = local.build_dir
  stream_mode            = "ON_DEMAND"
  api_authorization_type = var.production_jwt_issuer == null ? "AWS_IAM" : "JWT"
  jwt_issuer             = var.production_jwt_issuer
  jwt_audience           = var.production_jwt_audience
}
