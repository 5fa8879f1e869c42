"""Which store function applies each kind of ingest operation: the one table store/batch.py reads.

A new kind of write is a dataclass in footfall/domain plus a function here; nothing registers
itself on import, so what the writer can apply is visible in one place.
"""

from __future__ import annotations

from typing import Any, Callable

from footfall.domain.limits import Limits
from footfall.domain.models import TrackOp
from footfall.domain.operations import (
    BulkEventsOp, CreateProfileOp, ImportProfileOp, MergeProfilesOp, SourceBatchOp, SubscriptionJobOp, UpdateProfileOp,
)
from footfall.domain.privacy import DeleteProfilesOp, ProfileBulkImportOp, RestoreOp, SuppressionOp
from footfall.domain.segment_list_ops import DeleteGroup, ListMembers, SaveList, SaveSegment
from footfall.domain.webhooks import DeleteWebhook, SaveWebhook
from footfall.store import (bulk_events, privacy, profile_import, profile_writes, restore, segment_list_rows,
                            source_batch, subscriptions, track_writes, webhooks)
from footfall.store.conn import Conn
from footfall.store.tally import Tally

OpApplier = Callable[[Conn, Any, Limits, Tally], Any]

APPLIERS: dict[type, OpApplier] = {
    TrackOp: track_writes.apply_track,                    # legacy track/identify, modern events and client calls
    CreateProfileOp: profile_writes.apply_create,   # POST /api/profiles (409 on a taken identifier)
    ImportProfileOp: profile_writes.apply_import,   # POST /api/profile-import (upsert)
    UpdateProfileOp: profile_writes.apply_update,   # PATCH /api/profiles/{id}
    MergeProfilesOp: profile_writes.apply_merge,    # POST /api/profile-merge
    BulkEventsOp: bulk_events.apply_bulk,           # bulk create jobs and /client/event-bulk-create
    SourceBatchOp: source_batch.apply_source_batch,  # Segment /v1/* and PostHog capture (all or nothing)
    SaveSegment: segment_list_rows.apply_save_segment,  # segment create / update
    SaveList: segment_list_rows.apply_save_list,  # list create / rename
    DeleteGroup: segment_list_rows.apply_delete_group,  # segment or list delete
    ListMembers: segment_list_rows.apply_list_members,  # add / remove list members
    SubscriptionJobOp: subscriptions.apply_subscription_job,  # profile-subscription-bulk-create/delete-jobs
    SaveWebhook: webhooks.apply_save,               # webhook create / update
    DeleteWebhook: webhooks.apply_delete,           # webhook delete (and its delivery log)
    DeleteProfilesOp: privacy.apply_delete,         # data privacy deletion jobs
    SuppressionOp: privacy.apply_suppression,       # suppression bulk create / delete jobs
    ProfileBulkImportOp: profile_import.apply_import_job,  # profile bulk import jobs
    RestoreOp: restore.apply_restore,               # `footfall import` of the export's own format
}
