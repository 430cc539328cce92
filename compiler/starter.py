"""The files `integc init` writes: a small project that builds cleanly."""

MAIN = '''package example.starter version "0.1.0"

/// Where a customer lives.
type Address {
  city: string
  country: string @pattern("^[A-Z]{2}$") @example("GB")
}

enum Plan { free, pro = "PRO" }

/// The CRM the sales team works in.
system crm {
  title "CRM"
  owner "sales-ops@example.com"
  base_url "https://crm.example.com/api"
  auth bearer { secret "crm-token" }
  handles pii

  entity Customer {
    id: uuid @key @readonly @example("6f1c1d7e-8c1a-4f3e-9a55-3b0f5d2c9e11")
    email: email @pii @example("ada@example.com")
    name: string @length(1, 200) @example("Ada Lovelace")
    plan: Plan = free
    address: Address?
  }
  expose Customer at "/customers" { list, get }
}

/// Invoicing.
system billing {
  owner "finance@example.com"
  base_url "https://billing.example.com/v1"
  auth api_key { header "X-Api-Key", secret "billing-api-key" }
  handles pii

  entity Account {
    account_id: string @key
    email: email
    tier: string
    country: string
  }
  expose Account at "/accounts" { list, get, create, update }
}

/// Keep billing accounts in step with CRM customers.
flow sync_customers {
  from crm.Customer
  to billing.Account
  trigger schedule every 15m
  write upsert
  map {
    account_id = to_string(id)
    email = lower(email)
    tier = match plan { free -> "basic", pro -> "standard" }
    country = address.country ?? "GB"
  }
  retry 5 backoff exponential 2s max 5m
  on_error dead_letter
}
'''

CONFIG = '''entry = "main.integ"
out = "build"

[targets.openapi]
format = "yaml"
'''

STARTER_FILES = {"main.integ": MAIN, "integc.toml": CONFIG}
