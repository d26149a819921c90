"""Every action, block and callback id of the app's Slack surfaces (cards, modals), in one place.

Builders and the Bolt listeners both import these; no bare id strings anywhere else.
"""

from __future__ import annotations

from enum import StrEnum


class ActionId(StrEnum):
    """`action_id` of interactive elements: card buttons, the overflow menu and modal inputs."""

    # card buttons
    COMMENT = "incident-comment"
    ASSIGN_ME = "incident-assign-me"
    ASSIGN = "incident-assign"
    UNASSIGN = "incident-unassign"
    RESOLVE = "incident-resolve"
    REOPEN = "incident-reopen"
    IN_PROGRESS = "incident-in-progress"
    TAGS = "incident-tags"
    REFRESH = "incident-refresh"
    SHARE = "incident-share"
    # the redacted card's button: the full card, ephemerally, to a clicker who may read incidents
    SHOW_DETAILS = "incident-show-details"
    # "Share in channel" into a conversation with outsiders, after its warning: share the limited card
    SHARE_CONFIRMED = "incident-share-confirmed"
    # the alert card's button: the alert's incident card, ephemerally, to a clicker who may read it
    SHOW_ALERT_INCIDENT = "alert-show-incident"
    # a url button: Slack opens the link and still sends block_actions, which must be acked
    OPEN = "incident-open"
    # the card's overflow menu; the chosen option's value says which action (see refs.encode_more_value)
    MORE = "incident-more"
    # modal inputs
    COMMENT_TEXT = "incident-comment-text"
    ASSIGNEE_USER = "incident-assignee-user"
    ASSIGNEE_EMAIL = "incident-assignee-email"
    CLASSIFICATION = "incident-classification"
    DETERMINATION = "incident-determination"
    RESOLVE_COMMENT = "incident-resolve-comment"
    TAGS_SELECT = "incident-tags-select"
    TAGS_NEW = "incident-tags-new"
    # `/incident list` answer: paging (Slack wants action_ids unique within one actions block, so
    # Previous and Next differ; one listener serves both, the value says which page) and each row's
    # button, which sends that incident's card ephemerally
    LIST_PAGE = "incident-list-page"
    LIST_PAGE_PREVIOUS = "incident-list-page-previous"
    LIST_SHOW = "incident-list-show"
    # App Home tab: each row's button, the incident's card sent to the reader
    HOME_SHOW = "incident-home-show"


class BlockId(StrEnum):
    """`block_id` of the card's actions block and of the modals' input blocks."""

    CARD_ACTIONS = "incident-card-actions"
    ALERT_CARD_ACTIONS = "alert-card-actions"
    SHARE_WARNING_ACTIONS = "incident-share-warning-actions"
    COMMENT_INPUT = "incident-comment-input"
    ASSIGNEE_USER_INPUT = "incident-assignee-user-input"
    ASSIGNEE_EMAIL_INPUT = "incident-assignee-email-input"
    CLASSIFICATION_INPUT = "incident-classification-input"
    # the resolve modal appends "-<classification>" once one is chosen (see modals.determination_block_id)
    DETERMINATION_INPUT = "incident-determination-input"
    RESOLVE_COMMENT_INPUT = "incident-resolve-comment-input"
    TAGS_SELECT_INPUT = "incident-tags-select-input"
    TAGS_NEW_INPUT = "incident-tags-new-input"
    # the `/incident list` answer's Previous / Next row
    LIST_NAV = "incident-list-nav"


class CallbackId(StrEnum):
    """`callback_id` of the modals, for `view_submission` listeners."""

    COMMENT_MODAL = "incident-comment-modal"
    ASSIGN_MODAL = "incident-assign-modal"
    RESOLVE_MODAL = "incident-resolve-modal"
    TAGS_MODAL = "incident-tags-modal"
    # opened at once on a click, then replaced (views.update) by the modal above or by a notice
    PENDING_MODAL = "incident-pending-modal"
