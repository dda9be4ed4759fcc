// Package cronjob is the CronJob controller (batch/v1): it creates a Job
// at each schedule time, as Kubernetes' CronJob controller (v2) does.
//
// # Reconcile
//
// Keys are "namespace/name". Reconcile reads the CronJob from the informer
// cache and the Jobs it controls (a Job index by CronJob key):
//
//	status.active: drop finished Jobs (event SawCompletedJob) and Jobs
//	  the API server no longer has; lastSuccessfulTime = latest completion
//	suspended or unparseable schedule → no new Job
//	most recent schedule time in (lastScheduleTime or creation, now],
//	  no further back than startingDeadlineSeconds; none → requeue at next
//	  too late for startingDeadlineSeconds → MissSchedule, requeue at next
//	concurrencyPolicy Forbid with an active Job → skip; Replace → delete
//	  the active Jobs (background propagation)
//	create Job "<cronjob>-<minutes since epoch>" with the
//	  batch.kubernetes.io/cronjob-scheduled-timestamp annotation;
//	  status.active += it, lastScheduleTime = schedule time
//	write status; delete finished Jobs beyond successfulJobsHistoryLimit /
//	  failedJobsHistoryLimit, oldest start first
//	requeue 100 ms after the next schedule time
//
// Schedules are parsed by github.com/robfig/cron/v3 (ParseStandard: five
// fields or @descriptors), in spec.timeZone ("TZ=<zone> " prefix, as
// Kubernetes does). The clock is Config.Now, so tests move time instead of
// waiting for minutes.
//
// Controller is safe for concurrent use; Run may be called once.
package cronjob
