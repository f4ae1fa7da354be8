"""Validates SagaKit events against the schemas in this folder.

usage: python schemas/validate.py FILE
  FILE holds one event envelope (JSON) per line. Each envelope is checked against envelope.schema.json and its
  payload against events/<event_type>.v<schema_version>.schema.json. Prints one JSON object per line:
  {"line": n, "valid": true|false, "errors": [...]}. Exits 1 if any event is invalid.
Needs the `jsonschema` package (infra/dev setup installs it).
"""
import json
import pathlib
import sys

from jsonschema import Draft202012Validator, FormatChecker

HERE = pathlib.Path(__file__).resolve().parent


def validator(path):
    schema = json.loads(path.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


def main():
    envelope = validator(HERE / "envelope.schema.json")
    payloads = {}
    ok = True
    for number, line in enumerate(pathlib.Path(sys.argv[1]).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        errors = []
        try:
            event = json.loads(line)
        except json.JSONDecodeError as e:
            errors.append(f"not JSON: {e}")
            event = None
        if event is not None:
            errors += [f"envelope: {e.message}" for e in envelope.iter_errors(event)]
            if isinstance(event, dict) and not errors:
                name = f"{event['event_type']}.v{event['schema_version']}.schema.json"
                path = HERE / "events" / name
                if not path.exists():
                    errors.append(f"no schema {name}")
                else:
                    payloads.setdefault(name, validator(path))
                    errors += [f"payload: {e.message}" for e in payloads[name].iter_errors(event["payload"])]
        ok = ok and not errors
        print(json.dumps({"line": number, "valid": not errors, "errors": errors}))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
