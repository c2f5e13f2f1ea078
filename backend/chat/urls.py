from django.urls import path

from chat import views

urlpatterns = [
    path("api/rooms/<str:room>/messages/", views.room_messages, name="room-messages"),
]
