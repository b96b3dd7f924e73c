from __future__ import annotations

from galley.changes import Audited
from galley.errors import Conflict, GalleyError, NotFound, TooManyRequests


class NotAuthenticated(GalleyError):
    status, code, title = 401, "not-authenticated", "Not authenticated"

    def __init__(
        self, detail: str = "Send valid credentials: Authorization: Bearer <token>."
    ) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(GalleyError):
    status, code, title = 403, "forbidden", "Forbidden"

    def __init__(self, permission: str) -> None:
        super().__init__(f"This needs the permission {permission}.", permission=permission)

    def aftermath(self) -> list[Audited]:
        return [Audited("permission.denied", data=self.extra)]


class InvalidCredentials(GalleyError):
    """The same answer for an unknown e-mail and a wrong password."""

    status, code, title = 401, "invalid-credentials", "Invalid credentials"

    def __init__(self, user_id: int | None = None) -> None:
        super().__init__(
            "The e-mail address or the password is wrong.",
            headers={"WWW-Authenticate": "Bearer"},
        )
        # Recorded, never answered: the answer must not tell whether the account exists.
        self.subject = None if user_id is None else f"user:{user_id}"

    def aftermath(self) -> list[Audited]:
        return [Audited("login.failed", self.subject)]


class LoginThrottled(TooManyRequests):
    def aftermath(self) -> list[Audited]:
        # No subject: the e-mail tried is recorded nowhere.
        return [Audited("login.throttled")]


class InvalidRefreshToken(GalleyError):
    status, code, title = 401, "invalid-refresh-token", "Invalid refresh token"

    def __init__(self) -> None:
        super().__init__("The refresh token is unknown, expired, used or revoked; log in again.")


class RefreshTokenReused(InvalidRefreshToken):
    """The revocation of the token's family is kept, though the request fails."""

    keeps_writes = True

    def __init__(self, user_id: int) -> None:
        super().__init__()
        self.subject = f"user:{user_id}"

    def aftermath(self) -> list[Audited]:
        return [Audited("refresh_token.reused", self.subject)]


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

    def __init__(self, permissions: list[str]) -> None:
        super().__init__(
            f"A key never gets a permission its maker does not hold: {', '.join(permissions)}.",
            permissions=permissions,
        )

    def aftermath(self) -> list[Audited]:
        return [Audited("permission.denied", data=self.extra)]
