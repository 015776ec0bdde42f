"""Schemathesis hooks for Rollcall's run (tests/api/openapi.rs): contract files
are raw PDF bytes, a media type schemathesis has no serializer for."""

import schemathesis


@schemathesis.serializer("application/pdf")
def pdf(ctx, value):
    # Generated values for a binary body are bytes already; anything else is
    # sent as its text, which the server must refuse as not a PDF (422).
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    return str(value).encode()


@schemathesis.deserializer("application/pdf")
def pdf_answer(ctx, response):
    # A PDF download has no JSON to check against a schema.
    return None
