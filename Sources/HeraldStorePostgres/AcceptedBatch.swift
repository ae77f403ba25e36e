import Foundation
import HeraldCore
import HeraldStoreKit
import NIOCore

/// A batch of accepted emails as the arrays, one per column, that one `unnest` statement
/// inserts (``PostgresEmailStore/writeAccepted(_:on:logger:)``).
struct AcceptedBatch {
    var ids: [String] = []
    var tenants: [String] = []
    var acceptedAt: [Int64] = []
    /// A scheduled email is due at its time (one scheduled in the past is due now), and its
    /// retries' maximum age counts from then.
    var dueAt: [Int64] = []
    var sendAt = NullableArray<Int64>()
    var fields: [ByteBuffer] = []
    var texts = NullableArray<String>()
    var htmls = NullableArray<String>()
    var metadataOnly: [Bool] = []
    /// The `email.queued` webhook message of each email, kept only when an endpoint wants it.
    var webhookIDs: [String] = []
    var webhookBodies: [ByteBuffer] = []
    /// Every email's tags in order, as pairs of email id and tag.
    var tagEmailIDs: [String] = []
    var tags: [String] = []
    /// Every email's distinct recipients (``EmailMessage/recipientKeys``), as pairs.
    var recipientAddresses: [String] = []
    var recipientEmailIDs: [String] = []
    var activity = ActivityRows()

    /// The batch's accepts counted by minute, each minute once, in the shard of its first email:
    /// one row each, as `ON CONFLICT DO UPDATE` may touch a row only once per statement.
    struct ActivityRows {
        var slots: [Int32] = []
        var shards: [Int16] = []
        var minutes: [Int64] = []
        var counts: [Int64] = []
    }

    init(_ emails: [NewEmail]) {
        var minuteRows: [Int64: Int] = [:]
        for email in emails {
            let id = email.id.rawValue
            let at = email.acceptedAt.milliseconds
            let content = StoredContent(email.message)
            ids.append(id)
            tenants.append(email.tenant)
            acceptedAt.append(at)
            dueAt.append(max(at, email.sendAt?.milliseconds ?? at))
            sendAt.append(email.sendAt?.milliseconds)
            fields.append(ByteBuffer(bytes: content.fields))
            texts.append(content.text)
            htmls.append(content.html)
            metadataOnly.append(email.metadataOnly)
            let trigger = WebhookTrigger(type: .queued, emailID: email.id, at: email.acceptedAt)
            webhookIDs.append(WebhookColumns.newMessageID(at: email.acceptedAt))
            webhookBodies.append(ByteBuffer(bytes: trigger.body(tags: email.message.tags, metadata: email.message.metadata)))
            for tag in email.message.tags {
                tagEmailIDs.append(id)
                tags.append(tag)
            }
            for address in email.message.recipientKeys {
                recipientAddresses.append(address)
                recipientEmailIDs.append(id)
            }
            let minute = ActivityMinutes.minute(of: email.acceptedAt)
            if let row = minuteRows[minute] {
                activity.counts[row] += 1
            } else {
                minuteRows[minute] = activity.minutes.count
                activity.slots.append(Int32(ActivityMinutes.slot(of: minute)))
                activity.shards.append(PostgresEmailStore.shard(of: email.id))
                activity.minutes.append(minute)
                activity.counts.append(1)
            }
        }
    }
}
