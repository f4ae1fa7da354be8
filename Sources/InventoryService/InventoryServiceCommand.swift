import ArgumentParser
import Foundation
import Inventory
import PGClient
import SagaKitService

@main
struct InventoryServiceCommand: RootCommand {
    static let configuration = Inventory.commandConfiguration(
        abstract: "The order saga's Inventory service: holds stock for orders and releases it on compensation.",
        discussion: "Reserves on OrderPlaced, releases on PaymentDeclined or PaymentRefunded, marks sold on ConfirmationSent.",
        commands: [StockCommand.self]
    )
}

struct StockCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stock", abstract: "Set or list stock.", subcommands: [Set.self, List.self])

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set the units of a SKU available for sale (held and sold units are kept).")

        @Option(help: "The SKU.") var sku: String
        @Option(help: "Units available for sale.") var available: Int
        @OptionGroup var database: DatabaseOptions<Inventory>
        @OptionGroup var logging: LoggingOptions

        func validate() throws {
            guard !sku.isEmpty, sku.utf8.count <= 128 else { throw ValidationError("--sku must be 1 to 128 characters") }
            // The column is an integer (32 bits).
            guard (0...Int(Int32.max)).contains(available) else { throw ValidationError("--available must be 0 to \(Int32.max)") }
        }

        func run() async throws {
            try await database.withConnection(logging: logging) { try await StockAdmin.set(sku: sku, available: available, on: $0) }
            print("\(sku): \(available) available")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List stock per SKU: available, reserved, fulfilled.")

        @OptionGroup var report: ReportOptions<Inventory>

        func run() async throws {
            try await report.print(StockAdmin.list) { levels in
                Table(["SKU", "AVAILABLE", "RESERVED", "FULFILLED"], levels.map { [$0.sku, "\($0.available)", "\($0.reserved)", "\($0.fulfilled)"] }).rendered
            }
        }
    }
}

extension Inventory: CommandLineParticipant {}
