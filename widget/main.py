"""Entry point run by PyScript (see public/embed.js): a widget on every marked image."""

from imagechat_widget.compat import RUNTIME, window

try:
    from imagechat_widget.widget import Page

    PAGE = Page()
    PAGE.mount_new()
except Exception as error:
    # The runtime started but the widget cannot (a browser API missing, say): say so on the images.
    window.ImageChat.unavailable("the widget did not start: %r" % (error,))
    raise
window.ImageChat.started(RUNTIME)
