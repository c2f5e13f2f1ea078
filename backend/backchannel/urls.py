"""HTTP routes. WebSocket routes are in ``chat/routing.py``."""

from django.contrib import admin
from django.urls import include, path

from chat.signin import admin_login

urlpatterns = [
    # Before the admin's own routes: its login page, limited like the staff API (chat.signin).
    path("admin/login/", admin_login, name="admin-login"),
    path("admin/", admin.site.urls),
    path("", include("chat.urls")),
]
