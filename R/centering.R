# Within-cluster centering for multilevel models: the within part (deviation from
# the cluster mean) and the between part (the cluster mean), computed together so
# that the two always use the same clusters and the same missing-value rule.

#' Within-cluster centering
#'
#' Splits a level-1 predictor into its within-cluster part and its between-cluster
#' part, the decomposition behind contextual effects and cross-level interactions
#' (Raudenbush and Bryk's group-mean centering): `center_within(x, g)` is
#' `x - cluster_mean(x, g)`, and `cluster_mean(x, g)` is the mean of `x` in the
#' observation's cluster. Put both in the model, e.g.
#' `y ~ center_within(x, g) + cluster_mean(x, g) + (1 | g)`, or add them to the
#' data first (the clearer choice when new data are predicted).
#'
#' Cluster means are taken over the non-missing values of `x` in the cluster, so an
#' observation with `x` missing gets `NA` for its within part and still gets its
#' cluster's mean; an observation with `g` missing gets `NA` for both, and so does a
#' cluster whose `x` are all missing. A logical `x` is used as 0/1 (the within part
#' of an indicator). A factor `x` is an error: center the indicator of the level of
#' interest instead (`x == "level"`).
#'
#' @param x a numeric or logical vector: the level-1 predictor.
#' @param g the clusters: a factor, character, integer or numeric vector of the
#'   same length as `x`, or a list of such vectors (nested clusters, e.g.
#'   `list(school, class)`), whose combinations define the clusters.
#' @return A numeric vector of the length of `x`, with `x`'s names.
#' @examples
#' d <- data.frame(x = c(1, 2, 3, 10, 20, NA), g = c("a", "a", "a", "b", "b", "b"))
#' cbind(d, within = center_within(d$x, d$g), between = cluster_mean(d$x, d$g))
#' fit <- lmm(Reaction ~ center_within(Days, Subject) + (1 | Subject), sleepstudy)
#' fixef(fit)
#' @export
center_within <- function(x, g) {
  parts <- centering_parts(x, g, "center_within")
  parts$x - parts$mean
}

#' @rdname center_within
#' @export
cluster_mean <- function(x, g) {
  centering_parts(x, g, "cluster_mean")$mean
}

# Checks x and g, and returns x as numeric with the cluster means beside it.
centering_parts <- function(x, g, fn) {
  if (is.factor(x))
    stop(sprintf("%s(): 'x' is a factor; center the indicator of a level instead, e.g. %s(x == \"%s\", g)",
                 fn, fn, levels(x)[min(2L, nlevels(x))]), call. = FALSE)
  if (!(is.numeric(x) || is.logical(x)) || !is.null(dim(x)))
    stop(sprintf("%s(): 'x' must be a numeric or logical vector, not %s", fn,
                 if (!is.null(dim(x))) "a matrix or data frame" else class(x)[1]), call. = FALSE)
  nm <- names(x)
  x <- as.numeric(x)
  if (any(is.infinite(x)))
    stop(sprintf("%s(): 'x' has infinite values", fn), call. = FALSE)
  gl <- if (is.list(g) && !is.data.frame(g)) g else if (is.data.frame(g)) as.list(g) else list(g)
  if (!length(gl))
    stop(sprintf("%s(): 'g' is empty", fn), call. = FALSE)
  for (k in seq_along(gl)) {
    gk <- gl[[k]]
    if (!is.atomic(gk) || !is.null(dim(gk)) ||
        !(is.factor(gk) || is.character(gk) || is.numeric(gk) || is.logical(gk)))
      stop(sprintf("%s(): 'g' must be a factor, character or numeric vector (or a list of them)", fn),
           call. = FALSE)
    if (length(gk) != length(x))
      stop(sprintf("%s(): 'g' has length %d, 'x' has length %d", fn, length(gk), length(x)),
           call. = FALSE)
  }
  # one integer code per cluster; NA where any grouping variable is NA
  miss_g <- Reduce(`|`, lapply(gl, is.na))
  key <- do.call(paste, c(lapply(gl, as.character), sep = "\r"))
  clusters <- unique(key[!miss_g])
  code <- match(key, clusters)
  code[miss_g] <- NA_integer_
  ok <- !is.na(x) & !miss_g
  f <- factor(code[ok], levels = seq_along(clusters))
  sums <- vapply(split(x[ok], f), sum, numeric(1))
  counts <- tabulate(f, nbins = length(clusters))
  # a cluster with no observed x has no mean (NA, not NaN)
  means <- ifelse(counts > 0, sums / pmax(counts, 1), NA_real_)
  m <- unname(means[code])
  names(x) <- nm
  names(m) <- nm
  list(x = x, mean = m)
}
