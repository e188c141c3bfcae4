"""Runs inside the real-tools venv: aws-secrets-wrapper 0.1.3's own client and service code.

  python awswrap_driver.py wrap TABLE VALUE     -> prints the token (client side of `awswrap`,
                                                  then the Lambda's Wrapper.wrap)
  python awswrap_driver.py unwrap TABLE TOKEN   -> prints the value (Wrapper.unwrap, then the
                                                  client side of `awsunwrap`)
"""

import base64
import sys

from aws_secrets_wrapper.wrap import Wrapper
from boto3 import resource

CLIENT_KEY, SERVICE_KEY = "alias/wrap-client", "alias/wrap-service"


def main() -> None:
    command, table, arg = sys.argv[1:4]
    Wrapper.table = resource("dynamodb").Table(table)
    if command == "wrap":
        key_obj, data_key = Wrapper.get_keys(CLIENT_KEY)
        payload = {"value": base64.b64encode(key_obj.encrypt(arg.encode())).decode(),
                   "client_kms_key": CLIENT_KEY, "data_key": base64.b64encode(data_key).decode(),
                   "ttl": Wrapper.make_expiration(900)}
        print(Wrapper(**payload, lambda_kms_key=SERVICE_KEY).wrap())
    else:
        res = Wrapper.unwrap(arg)
        key_obj = Wrapper.decrypt_data_key(res["kms_key"], base64.b64decode(res["data_key"]))
        print(key_obj.decrypt(base64.b64decode(res["value"])).decode())


main()
