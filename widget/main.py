"""Entry point run by PyScript (see public/embed.js): a widget on every marked image."""

from imagechat_widget.widget import Page

PAGE = Page()
PAGE.mount_new()
