from __future__ import annotations

from galley.errors import Conflict, GalleyError, NotFound


class NotAuthenticated(GalleyError):
    status, code, title = 401, "not-authenticated", "Not authenticated"

    def __init__(
        self, detail: str = "Send valid credentials: Authorization: Bearer <token>."
    ) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(GalleyError):
    status, code, title = 403, "forbidden", "Forbidden"
    audit_kind = "permission.denied"

    def __init__(self, permission: str) -> None:
        super().__init__(f"This needs the permission {permission}.", permission=permission)


class InvalidCredentials(GalleyError):
    """The same answer for an unknown e-mail and a wrong password."""

    status, code, title = 401, "invalid-credentials", "Invalid credentials"
    audit_kind = "login.failed"

    def __init__(self, user_id: int | None = None) -> None:
        super().__init__(
            "The e-mail address or the password is wrong.",
            headers={"WWW-Authenticate": "Bearer"},
        )
        # Recorded, never answered: the answer must not tell whether the account exists.
        self.audit_subject = None if user_id is None else f"user:{user_id}"


class InvalidRefreshToken(GalleyError):
    status, code, title = 401, "invalid-refresh-token", "Invalid refresh token"

    def __init__(self) -> None:
        super().__init__("The refresh token is unknown, expired, used or revoked; log in again.")


class RefreshTokenReused(InvalidRefreshToken):
    """The revocation of the token's family is kept, though the request fails."""

    keeps_writes = True
    audit_kind = "refresh_token.reused"

    def __init__(self, user_id: int) -> None:
        super().__init__()
        self.audit_subject = f"user:{user_id}"


class EmailTaken(Conflict):
    code = "email-taken"

    def __init__(self) -> None:
        super().__init__("An account with this e-mail address exists already.")


class SignupClosed(GalleyError):
    status, code, title = 403, "signup-closed", "Sign-up closed"

    def __init__(self) -> None:
        super().__init__("Accounts are created by an administrator here.")


class ApiKeyNotFound(NotFound):
    code = "api-key-not-found"

    def __init__(self, key_id: str) -> None:
        super().__init__(f"There is no API key {key_id}.")


class UserNotFound(NotFound):
    code = "user-not-found"

    def __init__(self, user_id: str) -> None:
        super().__init__(f"There is no user {user_id}.")


class OwnAccountLocked(Conflict):
    """An administrator cannot demote or disable themselves, so one always remains."""

    code = "own-account"

    def __init__(self) -> None:
        super().__init__("You cannot change your own role or disable yourself; ask another admin.")


class KeyBeyondGrantor(GalleyError):
    status, code, title = 403, "key-beyond-grantor", "More than its maker may do"
    audit_kind = "permission.denied"

    def __init__(self, permissions: list[str]) -> None:
        super().__init__(
            f"A key never gets a permission its maker does not hold: {', '.join(permissions)}.",
            permissions=permissions,
        )
