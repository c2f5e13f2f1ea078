from django.urls import path

from chat import metrics_view, moderation_views, views

urlpatterns = [
    path("api/rooms/online/", views.rooms_online, name="rooms-online"),
    path("api/rooms/<str:room>/messages/", views.room_messages, name="room-messages"),
    path("api/rooms/<str:room>/search/", views.room_search, name="room-search"),
    path("api/identity/challenge/", views.identity_challenge, name="identity-challenge"),
    path("api/identity/", views.visitor_identity, name="identity"),
    path("api/identity/staff/", views.staff_identity, name="staff-identity"),
    path("api/moderation/actions/", moderation_views.moderation_action, name="moderation-actions"),
    path("api/moderation/address/", moderation_views.moderation_address, name="moderation-address"),
    path("api/reports/", moderation_views.report_message, name="reports"),
    path("metrics", metrics_view.metrics, name="metrics"),
]
