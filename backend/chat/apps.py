from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"
    verbose_name = "Chat rooms"

    def ready(self) -> None:
        from django.contrib import admin

        # Imported for what importing does: registering the system checks, and the signal
        # receivers that drop the cached word filter when an entry changes.
        from chat import checks, wordfilter  # noqa: F401
        from chat.signin import StaffSignInForm

        # The admin's login page spends the staff sign-in budget (chat.signin).
        admin.site.login_form = StaffSignInForm
