"""Reading resources: sources (-f), YAML/JSON with line numbers kept, schema checks.

The only package that uses ruamel and jsonschema; everything above gets plain, located data.
"""
