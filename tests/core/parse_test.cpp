#include "aft/core/parse.h"

#include <gtest/gtest.h>

#include "aft/core/error.h"
#include "aft/train/train_options.h"

TEST(Parse, IntegersMustBeSpelledInFull) {
  EXPECT_EQ(aft::parse_integer("12"), 12);
  EXPECT_EQ(aft::parse_integer("-3"), -3);
  EXPECT_EQ(aft::parse_integer("0"), 0);
  for (const char* bad : {"", "12x", "x12", " 3", "3 ", "+3", "1.5", "99999999999999999999", "-"}) {
    EXPECT_FALSE(aft::parse_integer(bad).has_value()) << "'" << bad << "'";
  }
}

TEST(Parse, ListsRefuseEmptyAndBadItems) {
  EXPECT_EQ(aft::parse_integer_list("3,0,5"), (std::vector<int64_t>{3, 0, 5}));
  EXPECT_EQ(aft::parse_integer_list("7"), (std::vector<int64_t>{7}));
  for (const char* bad : {"", ",", "3,", ",3", "3,,5", "3,a", "3;5"}) {
    EXPECT_FALSE(aft::parse_integer_list(bad).has_value()) << "'" << bad << "'";
  }
}

TEST(Parse, MilestonesWithATypoAreRefusedNotTruncated) {
  aft::train::TrainOptions o;
  o.schedule = "multistep";
  o.milestones = "4,6";
  EXPECT_EQ(o.milestone_list(), (std::vector<int64_t>{4, 6}));
  o.milestones = "4a,6";  // std::stoll alone read this as 4,6
  try {
    o.validate();
    FAIL() << "accepted " << o.milestones;
  } catch (const aft::Error& e) {
    EXPECT_NE(std::string(e.what()).find("--milestones 4a,6"), std::string::npos) << e.what();
  }
}
