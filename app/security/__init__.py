"""Keys and operators: the credential vault, named operator tokens with roles, the audit log
and rate limits (issue 17). ``authenticate_operator`` is the one entry point every admin
surface (API, console) uses to turn a token into an ``Operator``."""

from app.security.operators import Operator, Role, authenticate_operator

__all__ = ["Operator", "Role", "authenticate_operator"]
