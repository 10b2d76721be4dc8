"""The HTTP front door: the REST API and the Terraform http backend (`sloth-runner serve`)."""
