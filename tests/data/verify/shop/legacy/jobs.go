package legacy

// Run starts every job; this package does not build yet (Job is being moved).
func Run(jobs []Job) {
	for _, job := range jobs {
		go func() {
			job.Run()
		}()
	}
}
