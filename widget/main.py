"""Entry point run by PyScript (see public/embed.js): mount a widget on every marked image."""

from imagechat_widget.widget import mount_all

WIDGETS = mount_all()
