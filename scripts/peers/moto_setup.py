"""Creates, in a moto server that checks signatures, an IAM user allowed to use SES, its
access key, and a verified SES identity for herald-test.example; prints the key as JSON.

moto refuses every unauthenticated request (INITIAL_NO_AUTH_ACTION_COUNT=0), so this opens a
window of exactly the three IAM calls that create the user and its key; everything after is
signed with that key.
"""
import json
import sys
import urllib.request

import boto3

endpoint = sys.argv[1]
IAM_CALLS = 3
urllib.request.urlopen(
    urllib.request.Request(
        f"{endpoint}/moto-api/reset-auth", data=str(IAM_CALLS).encode(), headers={"Content-Type": "text/plain"}
    )
).read()

bootstrap = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
iam = boto3.client("iam", **bootstrap)
iam.create_user(UserName="herald")
policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ses:*", "Resource": "*"}]}
iam.put_user_policy(UserName="herald", PolicyName="ses", PolicyDocument=json.dumps(policy))
key = iam.create_access_key(UserName="herald")["AccessKey"]

ses = boto3.client(
    "sesv2", endpoint_url=endpoint, region_name="us-east-1",
    aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"],
)
ses.create_email_identity(EmailIdentity="herald-test.example")
print(json.dumps({"access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"]}))
