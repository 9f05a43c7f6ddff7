## emmeans on lmm fits equals emmeans on the lmerTest fit of the same model.

test_that("emmeans, pairs and contrast agree with emmeans on lmerTest fits", {
  skip_if_not_installed("emmeans")
  skip_if_not_installed("lmerTest")
  lemma:::register_inference_methods()
  set.seed(21)
  d <- expand.grid(visit = factor(1:3), id = factor(1:30))
  d$arm <- factor(ifelse(as.integer(d$id) %% 2 == 0, "A", "B"))
  d$y <- rnorm(30)[d$id] + as.integer(d$visit) * 0.3 + (d$arm == "B") * 0.5 + rnorm(nrow(d))
  d <- d[-c(5, 17, 40, 41, 77), ]
  fit <- lmm(y ~ arm * visit + (1 | id), d)
  lt <- lmerTest::lmer(y ~ arm * visit + (1 | id), d)
  for (mode in c("satterthwaite", "kenward-roger")) {
    e1 <- emmeans::emmeans(fit, ~ arm | visit, lmm.df = mode)
    e2 <- emmeans::emmeans(lt, ~ arm | visit, lmer.df = mode)
    s1 <- as.data.frame(summary(e1)); s2 <- as.data.frame(summary(e2))
    expect_equal(s1$emmean, s2$emmean, tolerance = 1e-6)
    expect_equal(s1$SE, s2$SE, tolerance = 2e-3)
    expect_equal(s1$df, s2$df, tolerance = 2e-3)
    p1 <- as.data.frame(summary(pairs(e1))); p2 <- as.data.frame(summary(pairs(e2)))
    expect_equal(p1$estimate, p2$estimate, tolerance = 1e-6)
    expect_equal(p1$SE, p2$SE, tolerance = 2e-3)
    expect_equal(p1$df, p2$df, tolerance = 2e-3)
    c1 <- as.data.frame(summary(emmeans::contrast(emmeans::emmeans(fit, ~ visit, lmm.df = mode), "poly")))
    c2 <- as.data.frame(summary(emmeans::contrast(emmeans::emmeans(lt, ~ visit, lmer.df = mode), "poly")))
    expect_equal(c1$estimate, c2$estimate, tolerance = 1e-6)
    expect_equal(c1$df, c2$df, tolerance = 2e-3)
  }
})
