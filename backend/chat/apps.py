from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"
    verbose_name = "Chat rooms"

    def ready(self) -> None:
        from django.contrib import admin
        from django.db.models.signals import post_migrate

        # Imported for what importing does: registering the system checks, and the signal
        # receivers that drop the cached word filter when an entry changes and every process's
        # copy of the sanctions in force when a sanction is written.
        from chat import checks, sanction_cache, wordfilter  # noqa: F401
        from chat.signin import StaffSignInForm

        # The admin's login page spends the staff sign-in budget (chat.signin).
        admin.site.login_form = StaffSignInForm
        # SQLite's search table is kept in step by triggers, which a migration that rebuilds
        # chat_message would drop: put them back after every migrate (chat.search).
        post_migrate.connect(_ensure_search_index, sender=self, dispatch_uid="chat.search.ensure_sqlite_index")


def _ensure_search_index(sender: AppConfig, using: str = "default", **kwargs: object) -> None:
    from chat.search import ensure_sqlite_index  # models are not ready when this module loads

    ensure_sqlite_index(using)
