"""Every word the widget shows or says, in each language it speaks (pure: no browser here).

A message is looked up by key; `{name}` placeholders are filled from keyword values. Counts have
two forms, `KEY.one` and `KEY.other`, chosen by each language's rule. Server errors come with
stable codes: `refusal.CODE` words each one, `refusal.other` any other. To add a language, add its
catalogue (same keys, same placeholders: tests/test_messages.py checks) and its singular counts.
"""

DEFAULT = "en"

CATALOGUES = {
    "en": {
        # the connection, in the corner pill and over the image
        "status.connecting": "Connecting…",
        "status.connected": "Live",
        "status.reconnecting": "Reconnecting…",
        "status.offline": "Offline",
        "status.refused": "Not available",
        "notice.offline": "You're offline — markers are read-only until the connection returns.",
        "notice.reconnecting": "Reconnecting… markers are read-only until the connection returns.",
        "notice.origin_not_allowed": "This site is not allowed to use this ImageChat tenant.",
        "notice.tenant_not_found": "This site is not allowed to use this ImageChat tenant: it does not exist.",
        "notice.readonly": "This conversation is view-only.",
        # pins and the thread list
        "pin.first": "{author}: {text}",
        "list.title": "Threads",
        "list.button": "Threads ({count})",
        "list.threads.one": "{count} thread",
        "list.threads.other": "{count} threads",
        "list.resolved": "{comments}, resolved",
        "controls.show_resolved": "Show resolved",
        "controls.show_resolved_count": "Show resolved ({count})",
        # the open thread
        "thread.title": "Thread #{number}",
        "thread.new": "New thread",
        "thread.comments.one": "{count} comment",
        "thread.comments.other": "{count} comments",
        "thread.loading_more.one": "Loading {count} more comment…",
        "thread.loading_more.other": "Loading {count} more comments…",
        "thread.not_loaded.one": "{count} more comment not loaded",
        "thread.not_loaded.other": "{count} more comments not loaded",
        "thread.resolved_by": "✓ Resolved by {name} · {time}",
        "thread.sending": "sending…",
        "thread.edited": "{time} · edited",
        "action.close": "Close",
        "action.cancel": "Cancel",
        "action.save": "Save",
        "action.edit": "Edit",
        "action.delete": "Delete",
        "action.delete_marker": "Delete marker",
        "action.resolve": "Resolve",
        "action.reopen": "Reopen",
        "action.rename": "change",
        "confirm.delete_comment": "Delete this comment?",
        "confirm.delete_marker": "Delete this marker and its whole thread?",
        # the composer
        "compose.placeholder": "Add a comment…",
        "compose.submit": "Comment",
        "compose.reply_placeholder": "Reply…",
        "compose.reply": "Reply",
        "compose.edit_label": "Edit your comment",
        "compose.name": "Your name",
        "compose.as": "Commenting as ",
        "compose.name_needed": "Please enter your name first.",
        "compose.too_long": "Comments are limited to {count} characters.",
        # who else is looking (the badge)
        "presence.here": "{count} here",
        "presence.looking": "{names} looking at this image",
        "presence.more.one": "{count} more",
        "presence.more.other": "{count} more",
        "presence.and": "{names} and {more}",
        # relative times
        "time.now": "just now",
        "time.minutes": "{count} min ago",
        "time.hours": "{count} h ago",
        "time.yesterday": "yesterday",
        "time.days": "{count} days ago",
        "time.months": "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec",
        "time.date": "{month} {day}",
        "time.date_year": "{month} {day}, {year}",
        # what went wrong, by the server's error code (a clause after "Not saved: ")
        "error.not_saved": "Not saved: {reason}",
        "error.sign_in": "Could not sign you in: {reason}",
        "error.snapshot": "Could not load this image's comments: {reason}",
        "error.thread": "Could not load the whole thread: {reason}",
        "error.thread_changing": "Could not load the whole thread. Open it again to retry.",
        "refusal.marker_not_found": "this thread was deleted in the meantime.",
        "refusal.comment_not_found": "this comment was deleted in the meantime.",
        "refusal.forbidden": "only the author, or a moderator, may do that.",
        "refusal.id_taken": "it conflicts with a change made elsewhere. Please try again.",
        "refusal.network": "the server could not be reached. Check your connection and try again.",
        "refusal.readonly": "this conversation is view-only.",
        "refusal.expired_sso": "your sign-in has expired. Reload the page to sign in again.",
        "refusal.invalid_sso": "this site's sign-in was refused. Reload the page to try again.",
        "refusal.rate_limited": "you're going a little fast. Try again in a few seconds.",
        "refusal.image_full": "this image has as many threads as it may hold.",
        "refusal.thread_full": "this thread has as many comments as it may hold.",
        "refusal.busy": "this conversation is very busy right now. Please try again.",
        "refusal.invalid_field": "the server did not accept it as written.",
        "refusal.other": "the server refused it ({code}).",
        # links to a thread (links.py)
        "link.copy": "Copy link",
        "link.copied": "Link copied",
        "link.copy_by_hand": "Copy this link:",
        "link.field": "Link to this thread",
        "link.deleted": "This thread was deleted",
        "link.dismiss": "Dismiss",
        # keyboard and screen readers (a11y.py): pins' names, the image's, announcements
        "a11y.pin.one": "Thread {number} of {total}, {count} comment, by {author}",
        "a11y.pin.other": "Thread {number} of {total}, {count} comments, by {author}",
        "a11y.pin_words": "{label}: {text}",
        "a11y.pin_resolved": "{label}, resolved",
        "a11y.pin_sending": "{label}, sending",
        "a11y.draft_pin": "The new comment's position: move it with the arrow keys",
        "a11y.image": "Image with comments. Press Enter to add a comment.",
        "a11y.image_readonly": "Image with comments.",
        "a11y.crosshair": "Adding a comment: move with the arrow keys, press Enter to place it, Escape to cancel.",
        "a11y.crosshair_cancelled": "Adding a comment cancelled.",
        "a11y.new_thread": "New thread by {author}",
        "a11y.new_thread_words": "New thread by {author}: {text}",
    },
    "fr": {
        "status.connecting": "Connexion…",
        "status.connected": "En direct",
        "status.reconnecting": "Reconnexion…",
        "status.offline": "Hors ligne",
        "status.refused": "Indisponible",
        "notice.offline": "Vous êtes hors ligne — les marqueurs sont en lecture seule jusqu'au retour de la connexion.",
        "notice.reconnecting": "Reconnexion… les marqueurs sont en lecture seule jusqu'au retour de la connexion.",
        "notice.origin_not_allowed": "Ce site n'est pas autorisé à utiliser ce compte ImageChat.",
        "notice.tenant_not_found": "Ce site n'est pas autorisé à utiliser ce compte ImageChat : il n'existe pas.",
        "notice.readonly": "Cette conversation est en lecture seule.",
        "pin.first": "{author} : {text}",
        "list.title": "Discussions",
        "list.button": "Discussions ({count})",
        "list.threads.one": "{count} discussion",
        "list.threads.other": "{count} discussions",
        "list.resolved": "{comments}, résolue",
        "controls.show_resolved": "Afficher les résolues",
        "controls.show_resolved_count": "Afficher les résolues ({count})",
        "thread.title": "Discussion n° {number}",
        "thread.new": "Nouvelle discussion",
        "thread.comments.one": "{count} commentaire",
        "thread.comments.other": "{count} commentaires",
        "thread.loading_more.one": "Chargement de {count} autre commentaire…",
        "thread.loading_more.other": "Chargement de {count} autres commentaires…",
        "thread.not_loaded.one": "{count} autre commentaire non chargé",
        "thread.not_loaded.other": "{count} autres commentaires non chargés",
        "thread.resolved_by": "✓ Résolue par {name} · {time}",
        "thread.sending": "envoi…",
        "thread.edited": "{time} · modifié",
        "action.close": "Fermer",
        "action.cancel": "Annuler",
        "action.save": "Enregistrer",
        "action.edit": "Modifier",
        "action.delete": "Supprimer",
        "action.delete_marker": "Supprimer le marqueur",
        "action.resolve": "Résoudre",
        "action.reopen": "Rouvrir",
        "action.rename": "changer",
        "confirm.delete_comment": "Supprimer ce commentaire ?",
        "confirm.delete_marker": "Supprimer ce marqueur et toute sa discussion ?",
        "compose.placeholder": "Ajouter un commentaire…",
        "compose.submit": "Commenter",
        "compose.reply_placeholder": "Répondre…",
        "compose.reply": "Répondre",
        "compose.edit_label": "Modifier votre commentaire",
        "compose.name": "Votre nom",
        "compose.as": "Vous commentez en tant que ",
        "compose.name_needed": "Veuillez d'abord saisir votre nom.",
        "compose.too_long": "Les commentaires sont limités à {count} caractères.",
        "presence.here": "{count} ici",
        "presence.looking": "Sur cette image : {names}",
        "presence.more.one": "{count} autre",
        "presence.more.other": "{count} autres",
        "presence.and": "{names} et {more}",
        "time.now": "à l'instant",
        "time.minutes": "il y a {count} min",
        "time.hours": "il y a {count} h",
        "time.yesterday": "hier",
        "time.days": "il y a {count} jours",
        "time.months": "janv. févr. mars avr. mai juin juil. août sept. oct. nov. déc.",
        "time.date": "{day} {month}",
        "time.date_year": "{day} {month} {year}",
        "error.not_saved": "Non enregistré : {reason}",
        "error.sign_in": "Connexion impossible : {reason}",
        "error.snapshot": "Impossible de charger les commentaires de cette image : {reason}",
        "error.thread": "Impossible de charger toute la discussion : {reason}",
        "error.thread_changing": "Impossible de charger toute la discussion. Rouvrez-la pour réessayer.",
        "refusal.marker_not_found": "cette discussion a été supprimée entre-temps.",
        "refusal.comment_not_found": "ce commentaire a été supprimé entre-temps.",
        "refusal.forbidden": "seul l'auteur, ou un modérateur, peut faire cela.",
        "refusal.id_taken": "cela entre en conflit avec une modification faite ailleurs. Veuillez réessayer.",
        "refusal.network": "le serveur est injoignable. Vérifiez votre connexion et réessayez.",
        "refusal.readonly": "cette conversation est en lecture seule.",
        "refusal.expired_sso": "votre connexion a expiré. Rechargez la page pour vous reconnecter.",
        "refusal.invalid_sso": "la connexion de ce site a été refusée. Rechargez la page pour réessayer.",
        "refusal.rate_limited": "vous allez un peu vite. Réessayez dans quelques secondes.",
        "refusal.image_full": "cette image a déjà autant de discussions qu'elle peut en contenir.",
        "refusal.thread_full": "cette discussion a déjà autant de commentaires qu'elle peut en contenir.",
        "refusal.busy": "cette conversation est très active en ce moment. Veuillez réessayer.",
        "refusal.invalid_field": "le serveur ne l'a pas accepté tel quel.",
        "refusal.other": "le serveur a refusé ({code}).",
        "link.copy": "Copier le lien",
        "link.copied": "Lien copié",
        "link.copy_by_hand": "Copiez ce lien :",
        "link.field": "Lien vers cette discussion",
        "link.deleted": "Cette discussion a été supprimée",
        "link.dismiss": "Fermer",
        "a11y.pin.one": "Discussion {number} sur {total}, {count} commentaire, par {author}",
        "a11y.pin.other": "Discussion {number} sur {total}, {count} commentaires, par {author}",
        "a11y.pin_words": "{label} : {text}",
        "a11y.pin_resolved": "{label}, résolue",
        "a11y.pin_sending": "{label}, envoi en cours",
        "a11y.draft_pin": "Position du nouveau commentaire : déplacez-la avec les flèches",
        "a11y.image": "Image commentée. Appuyez sur Entrée pour ajouter un commentaire.",
        "a11y.image_readonly": "Image commentée.",
        "a11y.crosshair": "Ajout d'un commentaire : déplacez avec les flèches, Entrée pour le placer, Échap pour annuler.",
        "a11y.crosshair_cancelled": "Ajout du commentaire annulé.",
        "a11y.new_thread": "Nouvelle discussion de {author}",
        "a11y.new_thread_words": "Nouvelle discussion de {author} : {text}",
    },
}
# The counts that take a language's `.one` form ("0 commentaire" in French, "0 comments" in English).
SINGULAR_COUNTS = {"en": (1,), "fr": (0, 1)}


def choose_locale(data_locale, page_lang, browser_langs):
    """The first language we speak among: the site's choice (`data-locale`), the page's `lang`,
    the browser's languages in order; else English. Tags are BCP 47 ("fr-CA" speaks "fr")."""
    for tag in [data_locale, page_lang] + list(browser_langs or ()):
        if tag:
            language = str(tag).strip().lower().replace("_", "-").split("-")[0]
            if language in CATALOGUES:
                return language
    return DEFAULT


class Messages:
    """The catalogue of one language: `messages.t("thread.title", number=3)`."""

    def __init__(self, locale=DEFAULT):
        self.locale = locale if locale in CATALOGUES else DEFAULT
        self._catalogue = CATALOGUES[self.locale]

    def t(self, key, **values):
        text = self._catalogue[key]
        for name in values:  # plain replacement: no format-spec surprises on either interpreter
            text = text.replace("{" + name + "}", str(values[name]))
        return text

    def plural(self, key, count, **values):
        """`KEY.one` or `KEY.other` for `count`, with `{count}` filled in."""
        form = ".one" if count in SINGULAR_COUNTS[self.locale] else ".other"
        return self.t(key + form, count=count, **values)

    def refusal(self, code):
        """Why the server refused, in words, by its stable error code."""
        key = "refusal." + str(code)
        return self.t(key) if key in self._catalogue else self.t("refusal.other", code=code)


ENGLISH = Messages(DEFAULT)
