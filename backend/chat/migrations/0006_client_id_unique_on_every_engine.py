# The (room, client_id) idempotency keys become unconditional unique constraints. The conditional
# ones (client_id IS NOT NULL) were never created on MySQL/MariaDB (no partial indexes: Django warned
# models.W036 and skipped them), so a message raced in from two sockets could be stored twice there.
# NULLs repeat freely in a unique index on every engine, so nothing else changes. On MySQL/MariaDB,
# removing the conditional constraint is a no-op (it was never made).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('chat', '0005_moderation_in_a_crowd'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='message',
            name='chat_message_room_client_id_unique',
        ),
        migrations.AddConstraint(
            model_name='message',
            constraint=models.UniqueConstraint(fields=('room', 'client_id'), name='chat_message_room_client_id_unique'),
        ),
        migrations.RemoveConstraint(
            model_name='heldmessage',
            name='chat_heldmessage_room_client_id_unique',
        ),
        migrations.AddConstraint(
            model_name='heldmessage',
            constraint=models.UniqueConstraint(fields=('room_name', 'client_id'), name='chat_heldmessage_room_client_id_unique'),
        ),
    ]
