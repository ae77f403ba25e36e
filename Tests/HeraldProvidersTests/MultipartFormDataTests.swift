import Foundation
import Testing

@testable import HeraldProviders

/// The multipart encoder the Mailgun adapter uses.
@Suite("Multipart form data")
struct MultipartFormDataTests {
    @Test func `writes fields and files between boundaries`() throws {
        var form = MultipartFormData()
        form.append("to", "a@example.com")
        form.appendFile("attachment", filename: "a \"b\".txt", contentType: "text/plain", content: Data("hi".utf8))
        let body = try #require(form.encoded(boundary: "XYZ"))
        let expected =
            "--XYZ\r\nContent-Disposition: form-data; name=\"to\"\r\n\r\na@example.com\r\n"
            + "--XYZ\r\nContent-Disposition: form-data; name=\"attachment\"; filename=\"a %22b%22.txt\"\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
            + "--XYZ--\r\n"
        #expect(String(decoding: body, as: UTF8.self) == expected)
    }

    @Test func `refuses a boundary that occurs in the content`() {
        var form = MultipartFormData()
        form.append("text", "a line with --XYZ inside")
        #expect(form.encoded(boundary: "XYZ") == nil)
    }

    @Test func `picks a fresh random boundary each time`() {
        var form = MultipartFormData()
        form.append("subject", "x")
        let first = form.encoded().contentType
        let second = form.encoded().contentType
        #expect(first.hasPrefix("multipart/form-data; boundary=herald-"))
        #expect(first != second)
    }
}
