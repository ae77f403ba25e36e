import GRDB
import HeraldCore
import HeraldStoreKit

extension StoredContent {
    /// The `message`, `text` and `html` columns of `row`.
    init(row: Row) {
        self.init(fields: row["message"], text: row["text"], html: row["html"])
    }
}
