"""Infrastructure as code: the CloudFormation template and the Lambda code package."""
