// Search against a reference evaluation: random Observations (patients,
// devices, codes, statuses, categories, quantities, components,
// encounters, times) go into a store and into a plain list; random queries
// mixing indexed parameters (patient, code, date, device) with those the
// store evaluates on the JSON (value-quantity, status, category,
// component-*, code-value-quantity, encounter, :missing, :not) must give
// the same matches as the list filtered by FHIR's rules written out here,
// the same totals, and pages that put together give the whole answer.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/json/document.h"
#include "store/embedded/embedded_store.h"
#include "store/embedded/filter.h"
#include "test_util.h"

namespace iomt::store {
namespace {

using iomt::testing::TempDir;

constexpr std::string_view kLoinc = "http://loinc.org";
constexpr std::string_view kCategories = "http://terminology.hl7.org/CodeSystem/observation-category";
constexpr std::string_view kUcum = "http://unitsofmeasure.org";

struct Obs {
  std::string id;
  int patient = 0;
  std::optional<int> device;
  std::optional<int> encounter;
  std::string code;  // a LOINC code
  std::string status;
  std::optional<std::string> category;
  std::optional<double> value;  // tenths: 71.5
  std::string unit;             // UCUM code, also the unit text
  int minute = 0;               // after 2024-05-01T00:00:00Z
  std::vector<std::pair<std::string, double>> components;
};

const std::vector<std::string> kCodes = {"8867-4", "59408-5", "8480-6"};
const std::vector<std::string> kStatuses = {"final", "preliminary", "amended"};

std::string Number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

std::string Instant(int minute) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "2024-05-%02dT%02d:%02d:00Z", 1 + minute / 1440, (minute / 60) % 24, minute % 60);
  return buf;
}

std::string ToJson(const Obs& o) {
  std::string j = R"({"resourceType":"Observation","id":")" + o.id + R"(","status":")" + o.status + R"(")";
  if (o.category) {
    j += R"(,"category":[{"coding":[{"system":")" + std::string(kCategories) + R"(","code":")" + *o.category +
         R"("}]}])";
  }
  j += R"(,"code":{"coding":[{"system":")" + std::string(kLoinc) + R"(","code":")" + o.code + R"("}]})";
  j += R"(,"subject":{"reference":"Patient/p)" + std::to_string(o.patient) + R"("})";
  if (o.encounter) j += R"(,"encounter":{"reference":"Encounter/e)" + std::to_string(*o.encounter) + R"("})";
  j += R"(,"effectiveDateTime":")" + Instant(o.minute) + R"(")";
  if (o.device) j += R"(,"device":{"reference":"Device/d)" + std::to_string(*o.device) + R"("})";
  if (o.value) {
    j += R"(,"valueQuantity":{"value":)" + Number(*o.value) + R"(,"unit":")" + o.unit + R"(","system":")" +
         std::string(kUcum) + R"(","code":")" + o.unit + R"("})";
  }
  if (!o.components.empty()) {
    j += R"(,"component":[)";
    for (std::size_t i = 0; i < o.components.size(); ++i) {
      j += (i == 0 ? "" : ",") + std::string(R"({"code":{"coding":[{"system":"http://loinc.org","code":")") +
           o.components[i].first + R"("}]},"valueQuantity":{"value":)" + Number(o.components[i].second) +
           R"(,"unit":"mm[Hg]","system":"http://unitsofmeasure.org","code":"mm[Hg]"}})";
    }
    j += "]";
  }
  return j + "}";
}

// A quantity comparison as FHIR defines it for a search value written
// with `decimals` digits after the point (eq: within half its last digit).
bool Compare(double x, const std::string& prefix, double v, int decimals) {
  const double half = 0.5 * std::pow(10.0, -decimals);
  if (prefix == "eq") return x >= v - half && x < v + half;
  if (prefix == "ne") return !(x >= v - half && x < v + half);
  if (prefix == "gt") return x > v;
  if (prefix == "lt") return x < v;
  if (prefix == "ge") return x >= v;
  return x <= v;  // le
}

// One clause of a query: its text and the rule it stands for.
struct Clause {
  std::string text;
  std::function<bool(const Obs&)> matches;
};

class SearchProperty : public ::testing::TestWithParam<unsigned> {
 protected:
  void SetUp() override {
    rng_.seed(GetParam());
    auto store = EmbeddedStore::Open(dir_.path());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
    for (int i = 0; i < 400; ++i) {
      Obs o;
      o.id = "o" + std::to_string(1000 + i);
      o.patient = Pick(5);
      if (Pick(4) != 0) o.device = Pick(3);
      if (Pick(3) == 0) o.encounter = Pick(3);
      o.code = kCodes[Pick(kCodes.size())];
      o.status = kStatuses[Pick(kStatuses.size())];
      if (Pick(3) != 0) o.category = Pick(4) == 0 ? "activity" : "vital-signs";
      if (Pick(5) != 0) o.value = 40 + Pick(1200) / 10.0;
      o.unit = Pick(2) == 0 ? "/min" : "%";
      o.minute = Pick(2880);
      if (o.code == "8480-6") {
        o.components = {{"8480-6", 90 + Pick(700) / 10.0}, {"8462-4", 50 + Pick(500) / 10.0}};
      }
      ASSERT_TRUE(store_->Update("Observation", o.id, ToJson(o), std::nullopt).ok());
      list_.push_back(std::move(o));
    }
    ASSERT_TRUE(store_->Flush().ok());
  }

  int Pick(std::size_t n) { return static_cast<int>(std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_)); }

  // A quantity search value and its rule on a number.
  std::pair<std::string, std::function<bool(double)>> Quantity() {
    static const std::vector<std::string> kPrefixes = {"eq", "ne", "gt", "lt", "ge", "le"};
    const std::string prefix = kPrefixes[Pick(kPrefixes.size())];
    const bool tenths = Pick(2) == 0;
    const double v = tenths ? 40 + Pick(1200) / 10.0 : 40 + Pick(120);
    const std::string text = (Pick(3) == 0 ? "" : prefix) + (tenths ? Number(v) : std::to_string(static_cast<int>(v)));
    const std::string p = text.size() > 1 && std::isalpha(static_cast<unsigned char>(text[0])) ? prefix : "eq";
    return {text, [p, v, tenths](double x) { return Compare(x, p, v, tenths ? 1 : 0); }};
  }

  Clause RandomClause() {
    switch (Pick(13)) {
      case 0: {
        const int p = Pick(5);
        return {"patient=Patient/p" + std::to_string(p), [p](const Obs& o) { return o.patient == p; }};
      }
      case 1: {
        const std::string c = kCodes[Pick(kCodes.size())];
        const std::string text = Pick(2) == 0 ? "code=" + c : "code=http://loinc.org%7C" + c;
        return {text, [c](const Obs& o) { return o.code == c; }};
      }
      case 2: {
        const int m = Pick(2880);
        if (Pick(2) == 0) return {"date=ge" + Instant(m), [m](const Obs& o) { return o.minute >= m; }};
        return {"date=lt" + Instant(m), [m](const Obs& o) { return o.minute < m; }};
      }
      case 3: {
        const std::string a = kStatuses[Pick(kStatuses.size())], b = kStatuses[Pick(kStatuses.size())];
        if (Pick(3) == 0) return {"status:not=" + a, [a](const Obs& o) { return o.status != a; }};
        return {"status=" + a + "," + b, [a, b](const Obs& o) { return o.status == a || o.status == b; }};
      }
      case 4: {
        const std::string c = Pick(2) == 0 ? "vital-signs" : "activity";
        const std::string text = Pick(2) == 0 ? "category=" + c : "category=" + std::string(kCategories) + "%7C" + c;
        return {text, [c](const Obs& o) { return o.category == c; }};
      }
      case 5:
      case 6: {
        // Not a structured binding: clang 14 cannot capture one.
        auto quantity = Quantity();
        const std::string text = quantity.first;
        const std::function<bool(double)> rule = quantity.second;
        std::string units;
        std::string unit;
        if (Pick(3) == 0) {
          unit = Pick(2) == 0 ? "/min" : "%";
          const std::string encoded = unit == "%" ? "%25" : unit;
          units = Pick(2) == 0 ? "%7C" + std::string(kUcum) + "%7C" + encoded : "%7C%7C" + encoded;
        }
        return {"value-quantity=" + text + units,
                [rule, unit](const Obs& o) { return o.value && rule(*o.value) && (unit.empty() || o.unit == unit); }};
      }
      case 7: {
        const std::string c = Pick(2) == 0 ? "8480-6" : "8462-4";
        return {"component-code=" + c, [c](const Obs& o) {
                  return std::any_of(o.components.begin(), o.components.end(), [&](auto& k) { return k.first == c; });
                }};
      }
      case 8: {
        // Not a structured binding: clang 14 cannot capture one.
        auto quantity = Quantity();
        const std::string text = quantity.first;
        const std::function<bool(double)> rule = quantity.second;
        return {"component-value-quantity=" + text, [rule](const Obs& o) {
                  return std::any_of(o.components.begin(), o.components.end(), [&](auto& k) { return rule(k.second); });
                }};
      }
      case 9: {
        // Not a structured binding: clang 14 cannot capture one.
        auto quantity = Quantity();
        const std::string text = quantity.first;
        const std::function<bool(double)> rule = quantity.second;
        const std::string c = kCodes[Pick(kCodes.size())];
        if (Pick(2) == 0) {
          return {"code-value-quantity=" + c + "$" + text,
                  [rule, c](const Obs& o) { return o.code == c && o.value && rule(*o.value); }};
        }
        const std::string k = Pick(2) == 0 ? "8480-6" : "8462-4";
        return {"component-code-value-quantity=" + k + "$" + text, [rule, k](const Obs& o) {
                  return std::any_of(o.components.begin(), o.components.end(),
                                     [&](auto& x) { return x.first == k && rule(x.second); });
                }};
      }
      case 10: {
        const int e = Pick(3);
        return {"encounter=Encounter/e" + std::to_string(e), [e](const Obs& o) { return o.encounter == e; }};
      }
      case 11: {
        const bool missing = Pick(2) == 0;
        const std::string name = Pick(2) == 0 ? "encounter" : "device";
        return {name + ":missing=" + (missing ? "true" : "false"),
                [missing, name](const Obs& o) { return (name == "encounter" ? !o.encounter : !o.device) == missing; }};
      }
      default: {
        const int d = Pick(3);
        return {"device=Device/d" + std::to_string(d), [d](const Obs& o) { return o.device == d; }};
      }
    }
  }

  // The ids a search gives (and its total), all pages.
  std::vector<std::string> Ids(const std::string& query, std::int64_t* total) {
    auto page = store_->Search("Observation", query + "&_sort=_id&_count=1000");
    EXPECT_TRUE(page.ok()) << query << ": " << page.status().ToString();
    std::vector<std::string> ids;
    if (!page.ok()) return ids;
    for (const Resource& r : page->resources)
      ids.push_back(r.id);
    *total = page->total;
    return ids;
  }

  TempDir dir_;
  std::mt19937 rng_;
  std::unique_ptr<EmbeddedStore> store_;
  std::vector<Obs> list_;
};

TEST_P(SearchProperty, RandomQueriesMatchTheReferenceEvaluation) {
  int answered = 0;  // queries that match something: the test must not pass on empty answers
  for (int q = 0; q < 250; ++q) {
    std::vector<Clause> clauses;
    const int n = 1 + Pick(3);
    for (int i = 0; i < n; ++i)
      clauses.push_back(RandomClause());
    std::string query;
    for (const Clause& c : clauses)
      query += (query.empty() ? "" : "&") + c.text;
    std::vector<std::string> expected;
    for (const Obs& o : list_) {
      if (std::all_of(clauses.begin(), clauses.end(), [&](const Clause& c) { return c.matches(o); }))
        expected.push_back(o.id);
    }
    answered += expected.empty() ? 0 : 1;
    std::int64_t total = -1;
    EXPECT_EQ(Ids(query, &total), expected) << query;
    // The same query as a Subscription's criteria, evaluated on each
    // resource's JSON in memory (filter.h's MakeCriteria), agrees.
    auto criteria = embedded::MakeCriteria("Observation", query);
    ASSERT_TRUE(criteria.ok()) << query << ": " << criteria.status().ToString();
    std::vector<std::string> in_memory;
    for (const Obs& o : list_) {
      json::Document doc;
      ASSERT_TRUE(doc.Parse(ToJson(o)).ok());
      if ((*criteria)->Matches(doc.root())) in_memory.push_back(o.id);
    }
    EXPECT_EQ(in_memory, expected) << "criteria " << query;
    EXPECT_EQ(total, static_cast<std::int64_t>(expected.size())) << query;

    // Paged by 7 (counted, and with _total=none; by keyset where the
    // search gives a cursor, else by offset; in three orders): the pages
    // together are the answer, each match once.
    if (q % 10 == 0) {
      for (const char* total_mode : {"", "&_total=none"}) {
        for (const char* order : {"&_sort=_id", "&_sort=-date", ""}) {
          std::vector<std::string> paged;
          std::optional<std::size_t> offset = 0;
          std::string cursor;
          for (int pages = 0; offset && pages < 100; ++pages) {
            std::string q7 = query + order + "&_count=7&_offset=" + std::to_string(*offset) + total_mode;
            if (!cursor.empty()) q7.append("&_cursor=").append(cursor);
            auto page = store_->Search("Observation", q7);
            ASSERT_TRUE(page.ok()) << q7 << ": " << page.status().ToString();
            for (const Resource& r : page->resources)
              paged.push_back(r.id);
            offset = page->next_offset;
            cursor = page->next_cursor;
          }
          if (std::string_view(order) != "&_sort=_id") std::sort(paged.begin(), paged.end());
          EXPECT_EQ(paged, expected) << query << order << total_mode;
        }
      }
    }
  }
  EXPECT_GT(answered, 100);
}

INSTANTIATE_TEST_SUITE_P(Seeds, SearchProperty, ::testing::Values(1u, 2u, 3u));

TEST(EmbeddedStoreSearchFilter, TooManyCandidatesIsTooCostly) {
  TempDir dir;
  EmbeddedStoreOptions options;
  options.max_filter_rows = 50;
  auto store = EmbeddedStore::Open(dir.path(), options);
  ASSERT_TRUE(store.ok());
  for (int i = 0; i < 60; ++i) {
    Obs o;
    o.id = "o" + std::to_string(i);
    o.code = i < 30 ? "8867-4" : "59408-5";
    o.status = "final";
    o.value = 70;
    o.unit = "/min";
    ASSERT_TRUE((*store)->Update("Observation", o.id, ToJson(o), std::nullopt).ok());
  }
  // 60 candidates: refused; narrowed by an indexed code to 30: answered.
  auto all = (*store)->Search("Observation", "value-quantity=gt60");
  EXPECT_EQ(all.status().code(), StatusCode::kOutOfRange) << all.status().ToString();
  auto narrowed = (*store)->Search("Observation", "code=8867-4&value-quantity=gt60");
  ASSERT_TRUE(narrowed.ok()) << narrowed.status().ToString();
  EXPECT_EQ(narrowed->total, 30);
  // Values that do not fit are errors; an empty value is ignored.
  for (const char* bad : {"value-quantity=gt", "value-quantity=xx5", "value-quantity=5|ucum", "status:exact=final",
                          "code-value-quantity=8867-4", "encounter:missing=maybe", "code:text=x"}) {
    EXPECT_EQ((*store)->Search("Observation", bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_TRUE((*store)->Search("Observation", "code=8867-4&status=").ok());
}

}  // namespace
}  // namespace iomt::store
