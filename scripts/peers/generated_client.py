"""Generates a Python client from Herald's OpenAPI document with openapi-python-client (a
generator Herald did not write) and reports how it typed each request body, and what a JSON
Schema validator makes of the send request's rules.

Usage: generated_client.py OPENAPI_JSON SCRATCH_DIRECTORY; prints one JSON object."""

import ast
import json
import pathlib
import subprocess
import sys

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012


def request_bodies(package):
    """Each operation module's `body` annotation, as written in its `sync_detailed` function."""
    bodies = {}
    for module in sorted((package / "api").rglob("*.py")):
        tree = ast.parse(module.read_text())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name == "sync_detailed":
                for argument in node.args.kwonlyargs:
                    if argument.arg == "body":
                        bodies[module.stem] = ast.unparse(argument.annotation)
    return bodies


def schema_verdicts(document):
    """Whether example send requests and mailboxes are valid against the document's schemas."""
    registry = Registry().with_resource("urn:herald", Resource.from_contents(document, default_specification=DRAFT202012))
    def valid(name, instance):
        schema = {"$ref": f"urn:herald#/components/schemas/{name}"}
        return jsonschema.Draft202012Validator(schema, registry=registry).is_valid(instance)
    base = {"from": "Ada Lovelace <ada@example.org>", "to": ["bob@example.com"], "subject": "Hi"}
    return {
        "text_only": valid("SendEmailRequest", base | {"text": "Hello"}),
        "html_only": valid("SendEmailRequest", base | {"html": "<p>Hello</p>"}),
        "neither": valid("SendEmailRequest", base),
        "bare_address": valid("Mailbox", "ada@example.org"),
        "named_address": valid("Mailbox", "Ada Lovelace <ada@example.org>"),
        "broken_address": valid("Mailbox", "Ada <ada@example.org"),
    }


def main():
    document_path, scratch = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    output = scratch / "client"
    run = subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate", "--path", str(document_path),
         "--output-path", str(output), "--meta", "none"],
        capture_output=True, text=True, timeout=300)
    if run.returncode != 0:
        sys.exit(f"openapi-python-client failed:\n{run.stdout}\n{run.stderr}")
    models = output / "models" / "send_email_request.py"
    fields = {}
    for node in ast.walk(ast.parse(models.read_text())):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            fields.setdefault(node.target.id, ast.unparse(node.annotation))
    json.dump({
        "bodies": request_bodies(output),
        "send_fields": fields,
        "schema": schema_verdicts(json.loads(document_path.read_text())),
    }, sys.stdout)


if __name__ == "__main__":
    main()
