// AUROC against hand-computed cases (ties included), ROC corners, quantiles,
// and the report and JSON writers' output.
#define BOOST_TEST_MODULE app_metrics
#include <boost/test/unit_test.hpp>
#include <cmath>

#include "apps/common/metrics.h"
#include "apps/common/report.h"
#include "autograd/error.h"
#include "weights/json.h"

using namespace differnet;
using namespace differnet::app;
using namespace differnet::weights;

BOOST_AUTO_TEST_CASE(auroc_hand_cases) {
  // Perfect separation, perfect inversion.
  BOOST_CHECK_EQUAL(auroc(std::vector<double>{0.1, 0.2, 0.8, 0.9}, std::vector<int>{0, 0, 1, 1}), 1.0);
  BOOST_CHECK_EQUAL(auroc(std::vector<double>{0.9, 0.8, 0.2, 0.1}, std::vector<int>{0, 0, 1, 1}), 0.0);
  // One discordant pair of four: 3/4.
  BOOST_CHECK_CLOSE(auroc(std::vector<double>{0.1, 0.5, 0.4, 0.9}, std::vector<int>{0, 0, 1, 1}), 0.75, 1e-12);
  // Ties count one half: pairs (pos 0.5 vs neg 0.5) = 0.5, (0.5 vs 0.1) = 1,
  // (0.7 vs 0.5) = 1, (0.7 vs 0.1) = 1 -> 3.5 / 4.
  BOOST_CHECK_CLOSE(auroc(std::vector<double>{0.1, 0.5, 0.5, 0.7}, std::vector<int>{0, 0, 1, 1}), 0.875, 1e-12);
  // Everything tied: 0.5.
  BOOST_CHECK_CLOSE(auroc(std::vector<double>{1, 1, 1, 1, 1}, std::vector<int>{0, 1, 0, 1, 1}), 0.5, 1e-12);
  // Pixel variant agrees with the image variant.
  BOOST_CHECK_CLOSE(auroc(std::vector<float>{0.1f, 0.5f, 0.5f, 0.7f}, std::vector<uint8_t>{0, 0, 1, 1}), 0.875, 1e-12);
}

BOOST_AUTO_TEST_CASE(auroc_rejects_one_class_and_nan) {
  BOOST_CHECK_THROW(auroc(std::vector<double>{0.1, 0.2}, std::vector<int>{0, 0}), Error);
  BOOST_CHECK_THROW(auroc(std::vector<double>{0.1, NAN}, std::vector<int>{0, 1}), Error);
  BOOST_CHECK_THROW(auroc(std::vector<double>{0.1}, std::vector<int>{0, 1}), Error);
}

BOOST_AUTO_TEST_CASE(roc_curve_corners_and_area) {
  const std::vector<double> s{0.1, 0.4, 0.35, 0.8};
  const std::vector<int> l{0, 0, 1, 1};
  const auto curve = roc_curve(s, l);
  BOOST_CHECK_EQUAL(curve.front().false_positive_rate, 0.0);
  BOOST_CHECK_EQUAL(curve.back().true_positive_rate, 1.0);
  double area = 0;  // trapezoids equal the rank statistic
  for (size_t i = 1; i < curve.size(); ++i)
    area += (curve[i].false_positive_rate - curve[i - 1].false_positive_rate) *
            (curve[i].true_positive_rate + curve[i - 1].true_positive_rate) / 2;
  BOOST_CHECK_CLOSE(area, auroc(s, l), 1e-12);
}

BOOST_AUTO_TEST_CASE(quantile_like_numpy) {
  BOOST_CHECK_CLOSE(quantile({1, 2, 3, 4}, 0.5), 2.5, 1e-12);
  BOOST_CHECK_CLOSE(quantile({5, 1, 3}, 0.99), 4.96, 1e-9);
  BOOST_CHECK_EQUAL(quantile({7}, 0.3), 7.0);
}

BOOST_AUTO_TEST_CASE(json_output) {
  Json j = Json::object();
  j["name"] = "a \"quoted\"\nline";
  j["nan"] = NAN;
  j["n"] = 3;
  j["x"] = 0.25;
  j["third"] = 0.1 + 0.2;  // needs 17 digits to read back
  j["path"] = "bad\xff";   // a file name that is not UTF-8
  Json arr = Json::array();
  arr.push_back(1);
  arr.push_back(true);
  j["list"] = arr;
  const std::string s = dump_json(j, -1);
  BOOST_CHECK_EQUAL(s, "{\"name\":\"a \\\"quoted\\\"\\nline\",\"nan\":null,\"n\":3,\"x\":0.25,"
                       "\"third\":0.30000000000000004,\"path\":\"bad\xef\xbf\xbd\",\"list\":[1,true]}\n");
  BOOST_TEST(parse_json(s, "t", JsonNumbers::Any)["third"].get<double>() == 0.1 + 0.2);
}

BOOST_AUTO_TEST_CASE(report_is_self_contained_html) {
  Report r;
  r.title = "test <report>";
  ReportCategory c;
  c.name = "synthetic";
  c.scores = {0.1, 0.2, 0.9, 0.3};
  c.labels = {0, 0, 1, 1};
  c.auroc_last = auroc(c.scores, c.labels);
  c.epochs = {{1, 1.5, 0.7, 2.0}, {2, 1.2, 0.8, 2.0}};
  c.images.push_back({"img", {0x89, 'P', 'N', 'G'}});
  r.categories.push_back(c);
  const std::string html = render_report_html(r);
  BOOST_CHECK_EQUAL(html.rfind("<!DOCTYPE html>", 0), 0u);
  BOOST_CHECK_NE(html.find("</html>"), std::string::npos);
  BOOST_CHECK_NE(html.find("test &lt;report&gt;"), std::string::npos);
  BOOST_CHECK_NE(html.find("data:image/png;base64,iVBORw=="), std::string::npos);
  BOOST_CHECK_EQUAL(html.find("http"), std::string::npos);  // nothing fetched from a network
}

BOOST_AUTO_TEST_CASE(base64) {
  BOOST_CHECK_EQUAL(base64_encode({'M', 'a', 'n'}), "TWFu");
  BOOST_CHECK_EQUAL(base64_encode({'M', 'a'}), "TWE=");
  BOOST_CHECK_EQUAL(base64_encode({'M'}), "TQ==");
}
